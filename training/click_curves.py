"""Print the model card's click-responsiveness table from full-curve result JSON files.

For each file (``napari-fbrs evaluate ... --full-curve --output FILE``): the mean IoU after
clicks 1..N and the click satisfaction at each click (the share of objects whose k-th click
ended on the side it asked for, right after it). A model that stops listening to its clicks
shows a flat mIoU curve and a falling satisfaction curve::

    python training/click_curves.py docs/model_card/responsiveness/*.json

``--stopped`` also takes the card's ordinary runs, whose objects stop at the highest IoU
threshold: their rows are the mean IoU after *at most* k clicks (a stopped object keeps its
last IoU), without satisfaction; that is how the card compares f-BRS-B click by click::

    python training/click_curves.py --stopped docs/model_card/dsb2018_val300_fbrs_b.json \
        docs/model_card/release3_candidate/dsb2018_val300_fbrs_b.json
"""

from __future__ import annotations

import argparse
from pathlib import Path

from napari_fbrs.evaluation.report import read_json


def curves_table(paths: list[Path], stopped: bool = False) -> str:
    """Markdown: two rows per file (mIoU, satisfaction), one column per click; with
    ``stopped``, a run whose objects stopped early gives one row (mIoU after at most k
    clicks)."""
    if not paths:
        raise ValueError("no result files given")
    lines: list[str] = []
    for path in paths:
        result = read_json(path)
        early = not result.settings.full_curve
        if early and not stopped:
            raise ValueError(f"{path}: not a --full-curve run (objects stopped early)")
        satisfaction = None if early else result.satisfaction_curve()
        if satisfaction is None and not early:
            raise ValueError(f"{path}: written before click satisfaction was recorded")
        clicks = result.settings.max_clicks
        if not lines:
            lines.append(
                "| result file | curve | " + " | ".join(map(str, range(1, clicks + 1))) + " |"
            )
            lines.append("| --- | --- |" + " ---: |" * clicks)
        name = f"`{path.parent.name}/{path.name}`" if early else f"`{path.name}`"
        miou = " | ".join(f"{v:.3f}" for v in result.miou_curve())
        if early:
            lines.append(f"| {name} | mIoU after at most k clicks | {miou} |")
            continue
        assert satisfaction is not None
        sat = " | ".join("-" if v is None else f"{v:.2f}" for v in satisfaction)
        lines.append(f"| {name} | mIoU | {miou} |")
        lines.append(f"| {name} | click satisfaction | {sat} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", nargs="+", type=Path, metavar="RESULT.json")
    parser.add_argument(
        "--stopped", action="store_true", help="also runs whose objects stopped early (mIoU only)"
    )
    args = parser.parse_args()
    print(curves_table(args.results, stopped=args.stopped))


if __name__ == "__main__":
    main()
