"""Average two checkpoints of one lineage: (1 - alpha) * FIRST + alpha * SECOND.

    python training/average_checkpoints.py FIRST SECOND --alpha 0.5 --output mix.pth

How release 3 was made (docs/model_card.md): FIRST the shipped release 2, SECOND the release 3
run's weights, which started from release 2; alpha chosen on the run's own validation sets.
The result is a float16 inference checkpoint (``--float32`` to keep full precision).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from napari_fbrs.model.checkpoint import CheckpointError
from napari_fbrs.training.weight_average import average_checkpoints


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("first", type=Path)
    parser.add_argument("second", type=Path)
    parser.add_argument("--alpha", type=float, required=True, help="the second's share, 0-1")
    parser.add_argument("--output", type=Path, required=True)
    parser.add_argument("--float32", action="store_true", help="do not store as float16")
    args = parser.parse_args(argv)
    try:
        out = average_checkpoints(
            args.first, args.second, args.alpha, args.output, half=not args.float32
        )
    except (CheckpointError, ValueError, OSError) as exc:
        print(f"average_checkpoints: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
