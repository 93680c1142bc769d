"""Messages the app posts to itself."""

from __future__ import annotations

from textual.message import Message

from tokentop.core.snapshot import Snapshot


class SnapshotReady(Message):
    """One tick's immutable picture of the aggregates; every panel repaints from it at once."""

    def __init__(self, snapshot: Snapshot) -> None:
        super().__init__()
        self.snapshot = snapshot

    def can_replace(self, message: Message) -> bool:
        # An older snapshot still queued is worthless once a newer one exists.
        return isinstance(message, SnapshotReady)
