"""Lanconelli et al. 2012 Y-90 voxel S value tables (see ../README.md)."""
