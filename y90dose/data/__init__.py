"""Reference data read at run time (see README.md in this folder for sources)."""
