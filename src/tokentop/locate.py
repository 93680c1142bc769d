"""``tokentop locate``: where tokentop looks for its config file and user themes."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from tokentop.config import config_dir, find_config


def run(args: argparse.Namespace) -> int:
    used = find_config(args.config)
    print(f"config file:  {used if used else '(none found; defaults in use)'}")
    print("searched:     --config PATH, $TOKENTOP_CONFIG"
          f"{'=' + os.environ['TOKENTOP_CONFIG'] if os.environ.get('TOKENTOP_CONFIG') else ''}, "
          f"{Path.cwd() / 'tokentop.toml'}, {config_dir() / 'tokentop.toml'}, {config_dir() / 'config.toml'}")
    print(f"user themes:  {config_dir() / 'themes'}")
    return 0
