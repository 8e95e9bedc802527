"""Cached Monte Carlo references (JSON data with provenance, see phantoms/README.md)."""
