"""``python -m napari_fbrs.cli`` (also what ``torchrun -m napari_fbrs.cli train`` runs)."""

from napari_fbrs.cli import main

raise SystemExit(main())
