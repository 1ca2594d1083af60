"""NoC evaluation of click-based segmentation, comparable to the f-BRS and RITM papers.

``clicker`` simulates the user exactly as the published protocol does, ``metrics`` turns
per-click IoU lists into NoC / failures / mIoU curves, ``noc`` runs a predictor over a dataset,
``baseline`` offers a classical random-walker predictor on the same protocol and ``report``
prints, saves and plots the result. Nothing here imports napari or Qt; torch is only reached
through the predictor that the caller passes in.
"""
