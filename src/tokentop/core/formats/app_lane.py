"""Learned shapes: the fast lane for the app-shaped lines a source writes over and over.

A log is written by a few pieces of code, so its app records come in a few key sets. Once the typed
path (:mod:`app_typed`) has read a line, the lane learns its keys; lines whose keys are all known are
then decoded by a msgspec Struct holding exactly those keys, typed as the typed path types them, that
rejects any other key (``forbid_unknown_fields``) -- so a line of another format, with a credential or
with a key never seen, falls back to the typed and general paths, which decide as before. A Struct of
the few keys a log uses decodes far faster than one of every spelling, and the code that picks the
spellings is generated for the keys known (:mod:`app_extract`), then builds the event with
``Normaliser.build``.

The lane gives exactly what the typed path gives (tests compare both on every shape they know); it
only ever declines. Learning stops at ``MAX_KEYS`` keys or ``MAX_LEARNED`` attempts, so a source with
ever-new keys costs at most a few hundred extra parses.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, Final

import msgspec
import orjson

from tokentop.core.event import UsageEvent
from tokentop.core.formats.app_extract import Build, Extract, extractor
from tokentop.core.formats.app_typed import _TOP

MAX_KEYS: Final = 64
MAX_LEARNED: Final = 256
_UNNAMEABLE: Final = re.compile(r'[\\"\x00-\x1f\x7f]')
"""What a msgspec field cannot be renamed to: a line with such a key is left to the typed path."""


class AppLane:
    """Decodes lines of the app shapes a source has shown (see the module docstring)."""

    def __init__(self, build: Build) -> None:
        self._build = build
        self._keys: list[str] = []
        self._known: set[str] = set()
        self._learned = 0
        self._decode: Callable[[bytes], Any] | None = None
        self._extract: Extract | None = None

    def event(self, line: bytes, read_time: float, raw: bytes | None) -> UsageEvent | None:
        """The line's event, or None: a line the lane cannot read (the other paths then will)."""
        decode = self._decode
        if decode is None or not line.isascii():  # msgspec does not check UTF-8 in what it skips
            return None
        try:
            s = decode(line)
        except (msgspec.DecodeError, RecursionError):  # ValidationError is a DecodeError
            return None
        return self._extract(s, read_time, raw)  # type: ignore[misc]

    def learn(self, line: bytes) -> None:
        """Learn the keys of a line the typed path has just read as an app record."""
        if self._learned >= MAX_LEARNED:
            return
        self._learned += 1
        try:
            record = orjson.loads(line)
        except orjson.JSONDecodeError:
            return
        if type(record) is not dict:
            return
        new = [key for key in record if key not in self._known]
        if not new or any(_UNNAMEABLE.search(key) for key in new):  # (msgspec cannot rename to such a key)
            return
        if len(self._keys) + len(new) > MAX_KEYS:
            self._learned = MAX_LEARNED  # a source of ever-new keys: the typed path reads it
            return
        self._keys += new
        self._known.update(new)
        struct = msgspec.defstruct(
            "LearnedAppLine", [(f"k{i}", _TOP.get(key, msgspec.Raw), None) for i, key in enumerate(self._keys)],
            rename={f"k{i}": key for i, key in enumerate(self._keys)}, forbid_unknown_fields=True)
        self._decode = msgspec.json.Decoder(struct).decode
        self._extract = extractor({key: f"k{i}" for i, key in enumerate(self._keys)}, self._build)
