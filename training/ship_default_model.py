"""Make a trained checkpoint the built-in default model (a maintainer's step, run from the repo).

    python training/ship_default_model.py runs/default_model/last.pth

Exports the checkpoint as float16 without optimiser state into
``src/napari_fbrs/model/default/`` and writes its sha256 into ``model/default_model.py``, so the
file and the recorded checksum never disagree. Then rerun the model card's commands.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from napari_fbrs.model.checkpoint import export_checkpoint, read_checkpoint, sha256_of
from napari_fbrs.model.default_model import DEFAULT_MODEL

REPO = Path(__file__).resolve().parents[1]
MODULE = REPO / "src" / "napari_fbrs" / "model" / "default_model.py"
TARGET = REPO / "src" / "napari_fbrs" / "model" / "default" / DEFAULT_MODEL.filename
MAX_BYTES = 20 * 1024 * 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint", type=Path, help="the trainer's last.pth (or any checkpoint)")
    args = parser.parse_args()
    arch = read_checkpoint(args.checkpoint)[0]
    if arch != DEFAULT_MODEL.arch:
        raise SystemExit(
            f"{args.checkpoint} holds {arch}; the built-in slot is {DEFAULT_MODEL.arch}"
        )
    export_checkpoint(args.checkpoint, TARGET, half=True, meta={"builtin": DEFAULT_MODEL.name})
    size = TARGET.stat().st_size
    if size > MAX_BYTES:
        TARGET.unlink()
        raise SystemExit(f"the exported file is {size / 2**20:.1f} MiB, over the 20 MiB limit")
    digest = sha256_of(TARGET)
    text = MODULE.read_text(encoding="utf-8")
    text, count = re.subn(r'sha256="[0-9a-zA-Z_]+"', f'sha256="{digest}"', text, count=1)
    if count != 1:
        raise SystemExit(f"no sha256 field found in {MODULE}")
    MODULE.write_text(text, encoding="utf-8")
    print(f"{TARGET} ({size / 2**20:.1f} MiB)\nsha256 {digest}")


if __name__ == "__main__":
    main()
