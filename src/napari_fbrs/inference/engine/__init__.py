"""The engine: a network on one image, clicks in, a probability map out.

The predictor, BRS, the transforms between the image and the network, settings and presets.
"""
