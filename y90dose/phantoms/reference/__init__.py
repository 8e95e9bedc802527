"""Cached Monte Carlo references (JSON data with provenance, see y90dose/phantoms/README.md)."""
