"""The pure core must not pull in Textual (or any I/O library)."""

import subprocess
import sys


def test_core_does_not_import_textual_or_io_libraries():
    code = (
        "import sys, pkgutil, importlib, tokentop.core as c\n"
        "for m in pkgutil.walk_packages(c.__path__, 'tokentop.core.'):\n"
        "    importlib.import_module(m.name)\n"
        "bad = [n for n in ('textual', 'rich', 'httpx', 'aiosqlite', 'watchfiles', 'h11', 'prometheus_client',\n"
        "                   'google.protobuf') if n in sys.modules]\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
