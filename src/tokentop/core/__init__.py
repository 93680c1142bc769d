"""The pure core: event model, normalisation, aggregation, plans and snapshots.

Nothing here imports Textual or does I/O; every function that needs the time takes it as a parameter.
"""
