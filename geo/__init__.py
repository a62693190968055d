"""Pure spatial code: parsing, distances, bounding boxes, GeoJSON, PostGIS expressions.

Imports no other package of ours.
"""
