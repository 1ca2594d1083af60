"""Inference, by concern: ``engine`` (one image, clicks in, map out), ``windows`` (large and lazy
images), ``stacks`` (objects through Z or T) and ``session`` (the object being segmented)."""
