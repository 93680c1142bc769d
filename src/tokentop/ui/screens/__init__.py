"""Modal screens: help, filter, detail views and the alert history."""
