"""The panels of the main screen; each only displays what a Snapshot says."""
