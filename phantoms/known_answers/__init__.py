"""Known answers of each phantom with default parameters (JSON data, see phantoms/README.md)."""
