"""Print the model card's learning curve from a run's ``train_log.csv`` (and ``val_log.csv``).

One row per ``--every`` optimiser steps: the steps and crops so far, the mean training loss
over that stretch, the throughput and the hours since the run started (resumes included), and
the run's own validation (NoBRS on its validation split, never GrabCut or DSB2018/val) where a
validation fell in the stretch. The card keeps a copy of the two CSV files, since a run folder
does not outlive its machine::

    python training/learning_curve.py docs/model_card/release3_logs --every 500
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path


def _rows(path: Path) -> list[dict[str, str]]:
    if not path.is_file():
        return []
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def curve_table(run: Path, every: int, batch: int = 8) -> str:
    """Markdown table of the run folder ``run`` (its CSV logs), ``every`` steps a row."""
    train = _rows(run / "train_log.csv")
    if not train:
        raise ValueError(f"{run}: no train_log.csv rows")
    val = _rows(run / "val_log.csv")
    val_keys = [k for k in (val[0] if val else {}) if k.startswith(("noc", "miou"))]
    head = ["steps", "crops", "mean loss", "crops/s", "hours"] + val_keys
    lines = ["| " + " | ".join(head) + " |", "|" + " ---: |" * len(head)]
    hours, last_elapsed, bucket, losses, speeds = 0.0, 0.0, every, [], []
    for row in train:
        step, elapsed = int(row["step"]), float(row["elapsed_s"])
        # elapsed_s restarts from 0 on each resume: add the stretches up
        hours += (elapsed - last_elapsed if elapsed >= last_elapsed else elapsed) / 3600
        last_elapsed = elapsed
        losses.append(float(row["loss"]))
        speeds.append(float(row["images_per_s"]))
        if step >= bucket or row is train[-1]:
            seen = [v for v in val if bucket - every < int(v["step"]) <= step]
            cells = [
                str(step),
                str(step * batch),
                f"{sum(losses) / len(losses):.4f}",
                f"{sum(speeds) / len(speeds):.2f}",
                f"{hours:.2f}",
            ] + [f"{float(seen[-1][k]):.3f}" if seen else "-" for k in val_keys]
            lines.append("| " + " | ".join(cells) + " |")
            losses, speeds = [], []
            while bucket <= step:
                bucket += every
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path, help="a run folder (or a copy of its CSV logs)")
    parser.add_argument("--every", type=int, default=500, help="steps per row [500]")
    parser.add_argument("--batch", type=int, default=8, help="crops per step [8]")
    args = parser.parse_args()
    print(curve_table(args.run, args.every, args.batch))


if __name__ == "__main__":
    main()
