"""Sources: turn bytes, rows or responses into UsageEvents. They may do I/O; they never import Textual."""
