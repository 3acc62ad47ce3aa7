"""What users run: the ``idex`` command line, batch processing, live capture, quick-looks, tables, sky maps,
studies and the desktop viewer.

Layer 10, the top: may import every other layer and the public functions of the package (``idex.open``...).
Nothing below imports it, except the package root, whose lazy attributes may name it.
"""
