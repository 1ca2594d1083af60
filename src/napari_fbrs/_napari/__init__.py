"""The only napari / Qt code of napari-fbrs: the dock widgets, layers, sample data, writer.

Importing this package first applies :func:`napari_fbrs.threads.configure_threads` (the
interactive role: each click takes the cores that are idle), because OpenMP reads its settings
only when torch is imported, and the modules of this package import torch (napari imports the
widget module when the user opens it).
"""

from napari_fbrs.threads import configure_threads as _configure_threads

_configure_threads()
