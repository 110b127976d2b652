"""The district's geography: zones, urban blocks, boundary files and the spatial index."""
