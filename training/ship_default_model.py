"""Make a trained checkpoint the built-in default model (a maintainer's step, run from the repo).

    python training/ship_default_model.py runs/lite0/last.pth [--trained-on "..."]

Exports the checkpoint as float16 without optimiser state into ``src/napari_fbrs/model/default/``
(named after its architecture; the previous file is removed) and rewrites the built-in entry of
the weights table (``BUILTIN`` in ``src/napari_fbrs/model/weights.py``: architecture, file name
and sha256), so the file and the recorded checksum never disagree. Then rerun the model card's
commands.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from napari_fbrs.model.checkpoint import export_checkpoint, read_checkpoint, sha256_of
from napari_fbrs.model.weights import BUILTIN

REPO = Path(__file__).resolve().parents[1]
MODULE = REPO / "src" / "napari_fbrs" / "model" / "weights.py"
FOLDER = REPO / "src" / "napari_fbrs" / "model" / "default"
MAX_BYTES = 20 * 1024 * 1024


def _set(text: str, key: str, value: str) -> str:
    """Replace ``key="..."`` inside the BUILTIN entry only."""
    start = text.index("BUILTIN = WeightsInfo(")
    end = text.index(")\n", start)
    entry, count = re.subn(rf'{key}="[^"]*"', f'{key}="{value}"', text[start:end], count=1)
    if count != 1:
        raise SystemExit(f"no {key} field in the BUILTIN entry of {MODULE}")
    return text[:start] + entry + text[end:]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint", type=Path, help="the trainer's last.pth (or any checkpoint)")
    parser.add_argument("--trained-on", help="the training data, as the model list shows it")
    args = parser.parse_args()
    arch = read_checkpoint(args.checkpoint)[0]
    target = FOLDER / f"napari_fbrs_default_{arch}.pth"
    export_checkpoint(args.checkpoint, target, half=True, meta={"builtin": BUILTIN.name})
    size = target.stat().st_size
    if size > MAX_BYTES:
        target.unlink()
        raise SystemExit(f"the exported file is {size / 2**20:.1f} MiB, over the 20 MiB limit")
    old = FOLDER / str(BUILTIN.packaged)
    if old != target and old.exists():
        old.unlink()
    digest = sha256_of(target)
    text = MODULE.read_text(encoding="utf-8")
    text = _set(text, "arch", arch)
    text = _set(text, "packaged", target.name)
    text = _set(text, "sha256", digest)
    if args.trained_on:
        text = _set(text, "trained_on", args.trained_on)
    MODULE.write_text(text, encoding="utf-8")
    print(f"{target} ({size / 2**20:.1f} MiB)\narch {arch}\nsha256 {digest}")


if __name__ == "__main__":
    main()
