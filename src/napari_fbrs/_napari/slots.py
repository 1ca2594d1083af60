"""No exception may escape a Qt slot: wrap every callback that Qt or napari calls.

An exception that reaches Qt's event loop aborts Python when napari's notification hook is not
installed (a script, a test without it); with the hook it becomes a traceback dialog. Either
way the user's work is at risk, so every slot of the plugin goes through :func:`qt_slot`: the
exception is logged with its traceback and shown as one notification, and the slot returns
``None``.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any, TypeVar

from napari.utils.notifications import show_error

LOGGER = logging.getLogger("napari_fbrs")
F = TypeVar("F", bound=Callable[..., Any])


def describe(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def qt_slot(function: F) -> F:
    """Run ``function``; an exception becomes a logged error and a notification."""

    @functools.wraps(function)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        try:
            return function(*args, **kwargs)
        except Exception as exc:
            LOGGER.exception("f-BRS: %s failed", getattr(function, "__qualname__", function))
            try:
                show_error(f"f-BRS: {describe(exc)}")
            except Exception:  # the viewer is going away: the log has it
                pass
            return None

    return guarded  # type: ignore[return-value]
