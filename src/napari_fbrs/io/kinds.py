"""The dataset kinds napari-fbrs reads: the one list that recipes, the CLI and the readers share.

Kept apart from :mod:`napari_fbrs.io.datasets` (and free of imports) so that parsing a recipe
or building the command line does not load the image readers.
"""

DATASET_KINDS: tuple[str, ...] = (
    "sbd",
    "grabcut",
    "berkeley",
    "davis",
    "coco_mval",
    "dsb2018",
    "folder",
)
