"""One router per resource, each mounted under ``/v1`` (``/healthz`` at the root)."""
