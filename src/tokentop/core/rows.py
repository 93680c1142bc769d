"""Table rows (a ledger's) -> UsageEvents, a batch at a time.

Every row of a table has the same columns, so the work a record-at-a-time reader repeats per row --
building a dict, matching keys to field spellings, choosing a format -- can be done once per table.
:class:`RowDecoder` does the general thing per row (a dict, JSON columns decoded, then
:meth:`Normaliser.from_record`) and, for tables the ``app`` format reads, runs a reader compiled
from the table's columns (straight-line code generated once, like ``app_typed``'s) that turns a row
tuple into a UsageEvent directly, caching what repeats from row to row: times per minute, providers
per (provider, model), the ``metadata`` JSON per text.

The compiled reader is only an accelerator: a row holding anything but the common value types (a
count written as text, a negative count, a blob, a JSON column it does not read, a time it cannot
take apart), or one that raises, is handed to the general path, which gives the same event or the
same counted skip. tests/core/test_rows.py compares the two on tricky and random rows.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Collection, Sequence
from typing import Any, Final

import orjson

from tokentop.core.event import SkipRecord, UsageEvent
from tokentop.core.fields import MAX_TOKENS, flag, text
from tokentop.core.formats import app
from tokentop.core.normalise import Normaliser
from tokentop.core.timeparse import ENDS, MINUTES, parse_time, utc_iso

Row = Sequence[Any]
"""A row as fetched: the table's high-water mark first, then one value per column name."""
Skip = Callable[[SkipRecord], None]

ROW_ERRORS: Final = (ValueError, TypeError, RecursionError, OverflowError)
"""What reading one bad row may raise besides SkipRecord: counted as a ``bad_record`` skip."""

_CACHE_LIMIT: Final = 4096
"""Entries per cache (metadata texts); ever-new values only clear it, never grow it."""

_TEXTS: Final = ("request_id", "user", "team", "api_key_id")
_DECLINED: Final = (*app.USAGE_OBJECTS, "prompt_tokens_details", "completion_tokens_details", *app.API_KEY)
"""Columns the compiled reader leaves to the general path whenever they hold a value."""


class RowDecoder:
    """Turns the rows of one table (fixed columns) into events, counting bad rows as skips."""

    def __init__(self, normaliser: Normaliser, names: Sequence[str], json_columns: Collection[str],
                 label: str, compiled: bool = True) -> None:
        self.normaliser = normaliser
        self.names = tuple(names)
        self.label = label
        """Names a row in skip details: ``"usage_logs rowid"`` -> ``usage_logs rowid 42: ...``."""
        self._json_at = [i for i, name in enumerate(self.names) if name in json_columns]
        self.compiled = compile_app_reader(normaliser, self.names, json_columns) if compiled else None
        """The compiled reader, or None: every row takes the general path (``compiled=False`` asks for
        that: tests compare the two)."""

    def decode(self, rows: Sequence[Row], read_time: float, skip: Skip) -> list[UsageEvent]:
        events: list[UsageEvent] = []

        def general(row: Row) -> None:
            try:
                event = self.general(row, read_time)
            except SkipRecord as problem:
                skip(problem)
            except ROW_ERRORS as exc:
                skip(SkipRecord("bad_record", f"{self.label} {row[0]}: {type(exc).__name__}"))
            else:
                if event is not None:
                    events.append(event)

        if self.compiled is None:
            for row in rows:
                general(row)
        else:
            self.compiled(rows, read_time, events, general)
        return events

    def general(self, row: Row, read_time: float) -> UsageEvent | None:
        """One row the way any record is read: a dict, its JSON columns decoded, then normalised."""
        names = self.names
        record = dict(zip(names, row[1:]))
        for i in self._json_at:
            column = names[i]
            value = record[column]
            if value is None or value == "" or value == b"":
                record[column] = None
            elif isinstance(value, (str, bytes)):
                try:
                    record[column] = orjson.loads(value)
                except orjson.JSONDecodeError as exc:
                    raise SkipRecord("invalid_json", f"{self.label} {row[0]}, column {column}: {exc}") from None
        # no raw copy of the row: it cost more than the normalising
        return self.normaliser.from_record(record, read_time)


# -- the compiled reader ------------------------------------------------------------------------------

Reader = Callable[[Sequence[Row], float, list[UsageEvent], Callable[[Row], None]], None]
Lines = list[str]
_LOCALS: Final = ("type", "str", "build", "MAX_TOKENS", "MAX_FLOAT", "minutes", "ends", "metas")


def compile_app_reader(normaliser: Normaliser, names: tuple[str, ...], json_columns: Collection[str]
                       ) -> Reader | None:
    """A reader of rows with these columns, or None when the ``app`` format is not the one reading
    them (another format may claim such records) or a custom field mapping applies."""
    if (normaliser.options.field_map or normaliser.format_names_for(names) != ("app",)
            or len(set(names)) < len(names)):
        return None
    col = {name: f"c{i}" for i, name in enumerate(names)}
    declined = [col[n] for n in names if n in _DECLINED or (n in json_columns and n != "metadata")]
    body: Lines = []
    if declined:
        body.append(f"if {' or '.join(f'{v} is not None' for v in declined)}: general(row); continue")
    body += _time(_first(col, app.TIME))
    for name in _TEXTS:
        body += _text(name, _first(col, app.LABELS[name]))
    body += _text("provider", _first(col, app.PROVIDER)) + _text("model", _first(col, app.MODEL))
    for name, spellings in app.COUNTS.items():
        body += _count(name, _first(col, spellings))
    body += _amount("cost", _first(col, app.COST)) + _amount("latency_ms", _first(col, app.LATENCY_MS))
    token_source = _first(col, app.TOKEN_SOURCE)
    body.append(f"token_source = {token_source}")
    if token_source != "None":
        body.append('if token_source is not None: token_source = "actual" if token_source == "actual" else "estimated"')
    cache_hit = _first(col, app.CACHE_HIT)
    body += ["cache_hit = False"] if cache_hit == "None" else [
        f"cache_hit = {cache_hit}", "cache_hit = False if cache_hit is None else flag(cache_hit)"]
    body += _tags(col, "metadata" in col and "metadata" in json_columns)
    # the rules every format shares (token source, totals, mismatch, provider, cost) are the Normaliser's
    body.append("append(build(ts, request_id, user, api_key_id, team, platform, endpoint, provider, model, "
                "prompt_tokens, completion_tokens, total_tokens, cached_tokens, cache_write_tokens, reasoning_tokens, "
                "token_source, cost, latency_ms, status, error, cache_hit, 'app', read_time, None))")
    # hot names are bound as locals (defaults): a local load is the cheapest there is
    lines = [f"def read_rows(rows, read_time, events, general, {', '.join(f'{n}={n}' for n in _LOCALS)}):",
             "    append = events.append",
             "    for row in rows:",
             f"        _mark, {''.join(v + ', ' for v in col.values())}= row",
             "        try:",
             *(f"            {line}" for line in body),
             "        except CAUGHT:",
             "            general(row)"]
    scope = _scope(normaliser)
    exec("\n".join(lines), scope)  # noqa: S102 - generated from the fixed spelling tables and column positions
    reader: Reader = scope["read_rows"]
    return reader


def _first(col: dict[str, str], spellings: tuple[str, ...]) -> str:
    """An expression for the first non-null of the spellings the table has (``fields.first``)."""
    present = [col[s] for s in spellings if s in col]
    if not present:
        return "None"
    expression = present[-1]
    for other in reversed(present[:-1]):
        expression = f"({other} if {other} is not None else {expression})"
    return expression


def _time(value: str) -> Lines:
    if value == "None":
        return ["ts = None"]
    return [f"ts = {value}",
            "if type(ts) is str:",
            "    base = minutes.get(ts[:16])",
            "    if base is not None and (rest := ends.get(ts[16:])) is not None: ts = (base + rest) / 1e6",
            "    else: ts = utc_iso(ts) or ts"]  # other kinds: build() reads them


def _text(name: str, value: str) -> Lines:
    """``fields.text`` for the common types; anything else goes to the general path."""
    if value == "None":
        return [f"{name} = None"]
    return [f"{name} = {value}",
            f"if type({name}) is str:",
            f"    if not {name} or {name}.isspace(): {name} = None",
            f"elif {name} is not None:",
            f"    if type({name}) is int or type({name}) is float: {name} = str({name})",
            "    else: general(row); continue"]


def _count(name: str, value: str) -> Lines:
    """``fields.count`` for in-range integers; text, floats, negative counts go to the general path."""
    if value == "None":
        return [f"{name} = None"]
    return [f"{name} = {value}",
            f"if type({name}) is int:",
            f"    if not 0 <= {name} <= MAX_TOKENS: general(row); continue",
            f"elif {name} is not None: general(row); continue"]


def _amount(name: str, value: str) -> Lines:
    """``fields.money`` / ``fields.millis`` for finite non-negative numbers (the rest: general path)."""
    if value == "None":
        return [f"{name} = None"]
    return [f"{name} = {value}",
            f"if type({name}) is float:",
            f"    if not 0.0 <= {name} <= MAX_FLOAT: general(row); continue",
            f"elif {name} is not None:",
            f"    if type({name}) is int and {name} >= 0: {name} = {name} + 0.0  # float(), without a call",
            "    else: general(row); continue"]


def _tags(col: dict[str, str], metadata: bool) -> Lines:
    """Platform, endpoint, status and error as ``AppFormat._tags`` reads them."""
    lines: Lines = []
    if metadata:
        md = col["metadata"]
        lines += [f"if {md} is None: meta_platform = meta_source = meta_platform_text = meta_source_text = None",
                  f"elif type({md}) is str:",
                  f"    known = metas.get({md})",
                  f"    if known is None: known = metadata_of({md}, metas)",
                  "    meta_platform, meta_source, meta_platform_text, meta_source_text = known",
                  "else: general(row); continue"]

    def truthy(*options: str) -> str:  # ``a or b``: the first truthy one, as _tags picks them
        present = [(o if o.startswith("meta_") else col[o]) for o in options
                   if (metadata if o.startswith("meta_") else o in col)]
        return " or ".join(present) or "None"

    for name, value in (("platform", truthy("meta_platform", "platform")),
                        ("endpoint", truthy("endpoint", "meta_source", "source", "type")),
                        ("status", truthy("status")), ("error", truthy("error"))):
        # a tag from metadata alone was made text once, with the decoded metadata
        lines += [f"{name} = {value}_text"] if value.startswith("meta_") and " " not in value else _text(name, value)
    return lines


def _scope(normaliser: Normaliser) -> dict[str, Any]:
    return {
        "build": normaliser.build, "MAX_TOKENS": MAX_TOKENS, "MAX_FLOAT": sys.float_info.max,
        "CAUGHT": (*ROW_ERRORS, OSError, SkipRecord), "flag": flag, "parse_time": parse_time, "utc_iso": utc_iso,
        "metadata_of": metadata_of, "type": type, "str": str, "minutes": MINUTES, "ends": ENDS, "metas": {},
    }


def metadata_of(value: str, cache: dict[str, tuple[Any, ...]]) -> tuple[Any, ...]:
    """``platform`` and ``source`` of a ``metadata`` JSON text (raises on bad JSON), as they are and as
    text, cached by the text."""
    decoded = orjson.loads(value) if value else None
    platform, source = (decoded.get("platform"), decoded.get("source")) if type(decoded) is dict else (None, None)
    known = (platform, source, text(platform), text(source))
    _remember(cache, value, known)
    return known


def _remember(cache: dict[Any, Any], key: Any, value: Any) -> None:
    if len(cache) >= _CACHE_LIMIT:
        cache.clear()  # ever-new keys only clear the cache, never grow it
    cache[key] = value
