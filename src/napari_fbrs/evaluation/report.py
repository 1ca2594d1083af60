"""Presenting an evaluation: a one-row table, a JSON record and an mIoU-vs-clicks plot.

The table keeps upstream's columns (NoC@80/85/90 and the ">=N@85" / ">=N@90" failure counts) so
a row can be compared with the papers at a glance, and adds mIoU after 1..5 clicks. It is
written as a Markdown table, so it pastes into a README unchanged. Files are written atomically:
a reader never sees half a JSON file or half a PNG.
"""

from __future__ import annotations

import io
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from napari_fbrs.atomic import atomic_write_bytes

from .results import EvaluationResult

TABLE_THRESHOLDS = (0.8, 0.85, 0.9)
FAILURE_THRESHOLDS = (0.85, 0.9)
TABLE_MIOU_CLICKS = (1, 2, 3, 4, 5)
MISSING = "-"


def _percent(threshold: float) -> str:
    return f"{round(threshold * 100):d}"


def table_columns(result: EvaluationResult) -> list[tuple[str, str]]:
    """(header, formatted value) pairs of the table row; ``-`` where a value is unavailable."""
    n = result.settings.max_clicks
    columns = [("method", result.method), ("dataset", result.dataset)]
    for t in TABLE_THRESHOLDS:
        value = f"{result.noc(t):.2f}" if result.has_threshold(t) else MISSING
        columns.append((f"NoC@{_percent(t)}", value))
    for t in FAILURE_THRESHOLDS:
        value = str(result.failures(t)) if result.has_threshold(t) else MISSING
        columns.append((f">={n}@{_percent(t)}", value))
    curve = result.miou_curve()
    for k in TABLE_MIOU_CLICKS:
        value = f"{curve[k - 1]:.3f}" if k <= curve.size else MISSING
        columns.append((f"mIoU@{k}", value))
    columns.append(("s/click", f"{result.seconds_per_click:.2f}"))
    columns.append(("samples", str(len(result.samples))))
    return columns


def format_table(result: EvaluationResult) -> str:
    """Header, rule and one data row, as a Markdown table (no trailing newline)."""
    columns = table_columns(result)
    widths = [max(len(h), len(v)) for h, v in columns]
    text_columns = 2  # method and dataset are left-aligned, numbers right-aligned
    header = [
        h.ljust(w) if i < text_columns else h.rjust(w)
        for i, ((h, _), w) in enumerate(zip(columns, widths, strict=True))
    ]
    rule = [("-" * w) if i < text_columns else ("-" * (w - 1) + ":") for i, w in enumerate(widths)]
    row = [
        v.ljust(w) if i < text_columns else v.rjust(w)
        for i, ((_, v), w) in enumerate(zip(columns, widths, strict=True))
    ]
    return "\n".join("| " + " | ".join(cells) + " |" for cells in (header, rule, row))


def _atomic_write(path: Path, data: bytes) -> Path:
    """Write ``data`` to a temporary file beside ``path``, then rename it over ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return atomic_write_bytes(path, data)


def write_json(
    result: EvaluationResult,
    path: str | os.PathLike[str],
    provenance: dict[str, Any] | None = None,
) -> Path:
    """Save settings, summary and every sample's clicks and per-click IoUs as JSON.

    ``provenance`` (which checkpoint, its sha256, the command) is stored under its own key so
    that a published number can be traced to the exact weights that produced it.
    """
    data = result.to_dict()
    if provenance is not None:
        data["provenance"] = provenance
    text = json.dumps(data, indent=2, allow_nan=False)
    return _atomic_write(Path(path), (text + "\n").encode("utf-8"))


def read_json(path: str | os.PathLike[str]) -> EvaluationResult:
    """Load a result saved by :func:`write_json`."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"{path}: cannot read an evaluation result: {error}") from error
    if not isinstance(data, dict):
        raise ValueError(f"{path}: an evaluation result must be a JSON object")
    try:
        return EvaluationResult.from_dict(data)
    except ValueError as error:
        raise ValueError(f"{path}: {error}") from error


def plot_curve(
    result_or_results: EvaluationResult | Sequence[EvaluationResult],
    path: str | os.PathLike[str],
) -> Path:
    """Plot mIoU against the number of clicks, one line per result, into a PNG file."""
    path = Path(path)
    if path.suffix.lower() != ".png":
        raise ValueError(f"{path}: the plot is written as PNG; use a .png file name")
    if isinstance(result_or_results, EvaluationResult):
        results = [result_or_results]
    else:
        results = list(result_or_results)
    if not results:
        raise ValueError("plot_curve() needs at least one evaluation result")
    try:
        from matplotlib.figure import Figure
    except ImportError as error:
        raise RuntimeError(
            "plotting the mIoU curve needs matplotlib: pip install matplotlib "
            "(or pip install 'napari-fbrs[plot]')"
        ) from error

    figure = Figure(figsize=(6.0, 4.0), dpi=100, layout="constrained")
    axes = figure.add_subplot()
    for result in results:
        curve = result.miou_curve()
        clicks = range(1, curve.size + 1)
        axes.plot(
            clicks, curve, marker="o", markersize=3, label=f"{result.method} / {result.dataset}"
        )
    axes.set_xlabel("number of clicks")
    axes.set_ylabel("mIoU")
    axes.set_ylim(0.0, 1.0)
    axes.set_xlim(left=1)
    axes.grid(True, alpha=0.3)
    axes.legend(loc="lower right")
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return _atomic_write(path, buffer.getvalue())
