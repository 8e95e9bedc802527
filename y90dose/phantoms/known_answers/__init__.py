"""Known answers of each phantom with default parameters (JSON data, y90dose/phantoms/README.md)."""
