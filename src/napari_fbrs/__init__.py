"""napari-fbrs: f-BRS click-based interactive segmentation for napari.

This module deliberately imports neither torch nor Qt so that napari can read the plugin
manifest and list its contributions without paying for heavy imports.
"""

try:
    from ._version import version as __version__
except ImportError:  # pragma: no cover - only in a source tree that was never installed
    __version__ = "0.0.0"

__all__ = ["__version__"]
