"""Large and lazy images: windows of an image, and predicting window by window."""
