"""Reading and writing the user's data: images, datasets, masks and label images.

``images`` holds the one normalisation policy (dtype, channels, contrast limits) that the widget,
the CLI, evaluation and training share; ``datasets`` reads interactive-segmentation benchmarks
and folders of napari labels behind one interface; ``masks`` writes masks and label images
atomically. This package imports only numpy, scipy, tifffile, scikit-image and Pillow; its
submodules are not imported here, so ``import napari_fbrs.io`` stays cheap.
"""
