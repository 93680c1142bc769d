"""Data files shipped in the wheel (read with importlib.resources, never fetched)."""
