"""Segment everything: automatic instances from the click model itself.

``seeds`` finds candidate object centres in the image, ``crops`` predicts one positive click
per seed in batched crops through the network, ``select`` keeps confident, stable masks and
resolves their overlaps, and ``automatic`` ties them together (:func:`segment_all`).
"""
