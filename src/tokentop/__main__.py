from tokentop.cli import entry

raise SystemExit(entry())
