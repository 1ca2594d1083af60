"""Clicks as immutable values.

A click is ``(row, col, positive)`` in pixel coordinates of the image the user sees (row 0 is
the top). Coordinates may be fractional inside the predictor because transforms rescale them;
user-facing code passes whole pixels. A sequence of clicks is just a tuple of :class:`Click`,
so "the clicker state" is copied by copying the tuple.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Click:
    row: float
    col: float
    positive: bool

    @property
    def coords(self) -> tuple[float, float]:
        return (self.row, self.col)

    def moved(self, row: float, col: float) -> Click:
        """The same click at other coordinates (used by geometric transforms)."""
        return Click(row, col, self.positive)

    def inside(self, height: int, width: int) -> bool:
        """True when the click falls on a pixel of an ``height x width`` image."""
        return 0 <= self.row < height and 0 <= self.col < width

    def outside_text(self, height: int, width: int) -> str:
        """How a click off an ``height x width`` image is described in every error."""
        return f"at ({self.row:g}, {self.col:g}) lies outside the {height} x {width} image"


def check_inside(clicks: Iterable[Click], height: int, width: int) -> None:
    """The one inside-the-image check of the predictors and the session: ValueError naming
    the first click that falls off an ``height x width`` image."""
    for click in clicks:
        if not click.inside(height, width):
            raise ValueError(f"click {click.outside_text(height, width)}")


def parse_clicks(text: str) -> tuple[Click, ...]:
    """Parse ``"ROW,COL,+;ROW,COL,-"`` (also ``1``/``0``, ``pos``/``neg``) into clicks."""
    clicks = []
    for index, item in enumerate(part.strip() for part in text.split(";")):
        if not item:
            continue
        fields = [f.strip() for f in item.split(",")]
        if len(fields) != 3:
            raise ValueError(f"click {index + 1} ({item!r}) must be ROW,COL,+ or ROW,COL,-")
        try:
            row, col = float(fields[0]), float(fields[1])
        except ValueError:
            raise ValueError(
                f"click {index + 1} ({item!r}): ROW and COL must be numbers"
            ) from None
        clicks.append(Click(row, col, _parse_sign(fields[2], index, item)))
    if not clicks:
        raise ValueError("no clicks given")
    return tuple(clicks)


def parse_plane_clicks(text: str) -> tuple[int | None, tuple[Click, ...]]:
    """``"ROW,COL,+;..."`` or, on a stack, ``"Z,ROW,COL,+;..."``: the slice (None without
    one) and the clicks. An object lives on one slice, so every click must name the same Z."""
    items = [part.strip() for part in text.split(";") if part.strip()]
    arity = {len(item.split(",")) for item in items}
    if arity != {4}:
        return None, parse_clicks(text)
    planes, rest = set(), []
    for index, item in enumerate(items):
        z, remainder = item.split(",", 1)
        try:
            value = float(z)
        except ValueError:
            raise ValueError(f"click {index + 1} ({item!r}): Z must be a slice number") from None
        if value != int(value) or value < 0:
            raise ValueError(f"click {index + 1} ({item!r}): Z must be a slice number >= 0")
        planes.add(int(value))
        rest.append(remainder)
    if len(planes) != 1:
        raise ValueError(
            f"the clicks name slices {sorted(planes)}: an object is clicked on one slice "
            "(the others follow by --propagate)"
        )
    return planes.pop(), parse_clicks(";".join(rest))


def clicks_from_triples(triples: Iterable[Sequence[object]]) -> tuple[Click, ...]:
    """``[[row, col, is_positive], ...]`` (the JSON clicks-file format) into clicks."""
    clicks = []
    for index, triple in enumerate(triples):
        if not isinstance(triple, Sequence) or len(triple) != 3:
            raise ValueError(f"click {index + 1} must be [row, col, is_positive], got {triple!r}")
        row, col, positive = triple
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (row, col)):
            raise ValueError(f"click {index + 1}: row and col must be numbers, got {triple!r}")
        if isinstance(positive, str):
            positive = _parse_sign(positive, index, str(triple))
        clicks.append(Click(float(row), float(col), bool(positive)))
    if not clicks:
        raise ValueError("no clicks given")
    return tuple(clicks)


def _parse_sign(token: str, index: int, item: str) -> bool:
    token = token.lower()
    if token in ("+", "1", "pos", "positive", "true", "t", "p"):
        return True
    if token in ("-", "0", "neg", "negative", "false", "f", "n"):
        return False
    raise ValueError(f"click {index + 1} ({item!r}): the sign must be + or -")
