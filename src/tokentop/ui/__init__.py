"""The live monitor: a Textual app that follows sources and shows top-style panels (docs/ui.md)."""
