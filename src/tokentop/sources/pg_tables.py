"""PostgreSQL usage tables: which preset a table is (from its columns), how its rows are selected, how
it is followed (a monotonic key, or time with a look-back), and how its history is summed.

Presets:

* ``gateway`` -- seed 003's ``usage_logs`` (snake_case ``prompt_tokens``/``user_id``/``token_source``;
  often partitioned by month), read by the ``app`` format;
* ``prisma`` -- seed 004's ``usage_logs`` written by Prisma (quoted camelCase ``"inputTokens"``,
  ``"companyId"``, ``"createdAt"``; ``metadata`` jsonb with ``platform`` and ``source``), ``app`` format;
* ``litellm`` -- LiteLLM proxy's ``"LiteLLM_SpendLogs"`` (``request_id``, ``"startTime"``, ``spend``; cache
  and reasoning counts in ``metadata.usage_object``), read by the ``litellm.spendlogs`` format.

Any other table is read with every column it has (``custom``); its history is summed too when its
columns are ones the ``app`` format reads.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Final

from tokentop.core.formats import app
from tokentop.core.summaries import SpanPlan
from tokentop.sources.app_sums import app_spec, count_range
from tokentop.sources.summing import Label, SumSpec, any_of

TIME_TYPES: Final = frozenset({"timestamp without time zone", "timestamp with time zone"})
INT_TYPES: Final = frozenset({"smallint", "integer", "bigint"})
NUMBER_TYPES: Final = INT_TYPES | {"numeric", "real", "double precision"}
PLAIN_TYPES: Final = NUMBER_TYPES | {"text", "character varying", "character", "boolean"}
JSON_TYPES: Final = frozenset({"json", "jsonb"})
LITELLM_TABLE: Final = "LiteLLM_SpendLogs"
LITELLM_COLUMNS: Final = (
    "request_id", "call_type", "api_key", "spend", "total_tokens", "prompt_tokens", "completion_tokens",
    "startTime", "endTime", "request_duration_ms", "model", "custom_llm_provider", "user", "metadata",
    "cache_hit", "team_id", "end_user", "status")
"""Never ``messages``/``response``/``proxy_server_request``: large, and tokentop does not show them."""
PRESET_NAMES: Final = ("gateway", "prisma", "litellm")
DEFAULT_TABLES: Final = ("usage_logs", LITELLM_TABLE)
"""Tables looked for (in the search path) when none is named."""


def quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def qualified(table: str) -> str:
    """``schema.table`` or ``table`` as SQL (each part quoted: mixed case is kept)."""
    return ".".join(quote(part) for part in split_name(table))


def split_name(table: str) -> list[str]:
    """``public.usage_logs`` -> [public, usage_logs]; a quoted part may hold a dot."""
    parts, current, quoted = [], "", False
    for ch in table:
        if ch == '"':
            quoted = not quoted
        elif ch == "." and not quoted:
            parts.append(current)
            current = ""
        else:
            current += ch
    parts.append(current)
    return parts


@dataclass(frozen=True, slots=True)
class Table:
    """A table as the catalog describes it: column -> type (``format_type``), in column order."""

    name: str
    columns: Mapping[str, str]
    partitioned: bool = False

    def has(self, *names: str) -> bool:
        return all(n in self.columns for n in names)


@dataclass(frozen=True, slots=True)
class Layout:
    """How one table is read: the preset, the columns selected, the follow key and the summing spec."""

    preset: str
    format: str | None
    names: tuple[str, ...]
    """Columns read, in the order a row has them (after the mark)."""
    select: str
    """SQL of the projection: the mark, then one expression per name."""
    json_columns: tuple[str, ...]
    time: str | None
    """The time column (quoted), for following by time and for summing."""
    mark: str | None
    """A monotonic integer key (quoted) when the table has one: followed by it."""
    key: str | None
    """The request id column (quoted), for de-duplication when following by time."""
    sums: SumSpec | None
    """None: history is read row by row."""
    missing: tuple[str, ...] = ()


def detect_preset(table: Table) -> str:
    if table.has("request_id", "startTime", "spend"):
        return "litellm"
    if table.has("createdAt") or table.has("inputTokens") or table.has("companyId"):
        return "prisma"
    if table.has("prompt_tokens", "created_at"):
        return "gateway"
    return "custom"


def layout(table: Table, preset: str | None, id_column: str | None, extra: Collection[str],
           json_extra: Collection[str], custom_fields: bool) -> Layout:
    """How to read ``table`` (``preset`` None: detected; ``extra``: columns a ``columns`` mapping names)."""
    preset = preset or detect_preset(table)
    cols = table.columns
    if preset == "litellm":
        wanted = [c for c in LITELLM_COLUMNS if c in cols]
        time_col, key_col, fmt = "startTime", "request_id", "litellm.spendlogs"
    else:
        wanted = list(cols)
        time_col = next((c for c in app.TIME if c in cols), None)
        key_col = next((c for c in app.REQUEST_ID if c in cols), None)
        fmt = "app" if preset in ("gateway", "prisma") else None
    wanted += [c for c in extra if c in cols and c not in wanted]
    missing = tuple(c for c in extra if c not in cols)
    if preset == "litellm":
        missing += tuple(c for c in LITELLM_COLUMNS if c not in cols)
    mark_col = id_column if id_column is not None else key_col
    if mark_col is not None and mark_col not in cols:
        raise LookupError(f"table {table.name} has no column {mark_col} (id_column)")
    monotonic = mark_col is not None and cols[mark_col] in INT_TYPES and (id_column is not None or preset != "litellm")
    if time_col is not None and cols.get(time_col) not in TIME_TYPES:
        time_col = None
    if not monotonic and time_col is None:
        raise LookupError(f"table {table.name} has neither an integer id nor a timestamp column to follow"
                          " (set id_column)")
    json_columns = tuple(c for c in wanted if cols[c] in JSON_TYPES) + tuple(json_extra)
    first = quote(mark_col) if monotonic else f"{quote(key_col)}::text" if key_col is not None else "NULL"
    select = ", ".join([first] + [project(c, cols[c]) for c in wanted])
    sums = None
    if not custom_fields:
        sums = litellm_sums(table) if preset == "litellm" else app_sums(table)
    return Layout(preset, fmt, tuple(wanted), select, json_columns,
                  quote(time_col) if time_col else None, quote(mark_col) if monotonic else None,
                  quote(key_col) if key_col is not None and not monotonic else None, sums, missing)


def project(column: str, kind: str) -> str:
    """A column as rows carry it: times as epoch seconds (UTC; a timestamp without time zone is UTC),
    JSON and numeric as text/float (what the readers take fast), other types (uuid, enums) as text."""
    q = quote(column)
    if kind in TIME_TYPES:
        return f"extract(epoch from {q})::float8"
    if kind in JSON_TYPES:
        return f"{q}::text"
    if kind == "numeric":
        return f"{q}::float8"
    if kind in PLAIN_TYPES:
        return q
    return f"{q}::text"


def label(path: tuple[str, ...], column: str, kind: str) -> Label:
    """A label column grouped on as stored, handed over as rows carry it (:func:`project`, but numbers
    stay numbers)."""
    return Label(path, quote(column), text=kind not in PLAIN_TYPES)


# -- summing ------------------------------------------------------------------------------------------


class PgDialect:
    """PostgreSQL's spellings of the grouped scan (:class:`~tokentop.sources.summing.Dialect`)."""

    @staticmethod
    def slot(ts: str) -> str:
        return (f"CASE WHEN {ts} >= %(minute_edge)s THEN date_trunc('minute', {ts})"
                f" WHEN {ts} >= %(hour_edge)s THEN date_trunc('hour', {ts}) END")

    @staticmethod
    def segment(ts: str, plan: SpanPlan) -> str:
        """A few boundaries (a month of history): compared one by one, newest first; many: a binary
        search (``width_bucket``), which costs more per row than a comparison or two."""
        if not plan.boundaries:
            return "0"
        if len(plan.boundaries) > 3:
            return f"width_bucket(({ts})::timestamptz, %(bounds)s::timestamptz[])"
        found = " ".join(f"WHEN {ts} >= (%(bounds)s::timestamptz[])[{i}] THEN {i}" for i in range(len(plan.boundaries), 0, -1))
        return f"CASE {found} ELSE 0 END"

    @staticmethod
    def text(expr: str) -> str:
        return f"{expr}::text"

    @staticmethod
    def greatest0(expr: str) -> str:
        return f"greatest({expr}, 0)"

    @staticmethod
    def real(expr: str) -> str:
        return expr  # numeric sums exactly; the total is converted once

    @staticmethod
    def shape(ts: str) -> list[str]:
        return []

    @staticmethod
    def valid(shape: tuple[Any, ...]) -> bool:
        return True

    @staticmethod
    def invalid(ts: str, shapes: list[tuple[Any, ...]]) -> str:
        return "FALSE"

    @staticmethod
    def time_out(expr: str) -> str:
        return f"extract(epoch from {expr})::float8"  # (as rows are projected: the same float)

    @staticmethod
    def parameters(plan: SpanPlan) -> dict[str, Any]:
        return {"minute_edge": _datetime(plan.minute_edge), "hour_edge": _datetime(plan.hour_edge),
                "bounds": [_datetime(b) for b in plan.boundaries]}

    epoch = float


def _datetime(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, timezone.utc)


def epoch(value: datetime) -> float:
    """A fetched timestamp as epoch seconds (a timestamp without time zone is UTC, as parse_time reads it)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.timestamp()




class PgSql:
    """PostgreSQL's side of an ``app`` table's spec (:class:`~tokentop.sources.app_sums.TableSql`)."""

    quote = staticmethod(quote)
    _KINDS: Final = {"time": TIME_TYPES, "count": INT_TYPES, "cost": NUMBER_TYPES, "json": JSON_TYPES}

    def summable(self, role: str, kind: str) -> bool:
        return kind in self._KINDS[role]

    @staticmethod
    def odd_time(ts: str) -> list[str]:
        return [f"{ts} IS NULL", f"{ts} < '1970-01-01'", f"{ts} >= '3000-01-01'"]

    @staticmethod
    def odd_count(expr: str) -> list[str]:
        return [count_range(expr)]

    @staticmethod
    def odd_cost(expr: str) -> list[str]:
        return [f"{expr} IS NOT NULL AND NOT ({expr} >= 0 AND {expr} < 'Infinity')"]

    @staticmethod
    def label(path: tuple[str, ...], column: str, kind: str) -> tuple[Label, list[str]]:
        return label(path, column, kind), []

    @staticmethod
    def json_member(column: str, path: tuple[str, ...]) -> tuple[Label, list[str]]:
        return Label((column, *path), quote(column) + "".join(f"->'{p}'" for p in path)), []

    @staticmethod
    def wide(expr: str) -> str:
        return f"{expr}::bigint"


def app_sums(table: Table) -> SumSpec | None:
    """The spec of a table the ``app`` format reads, or None when its history must be read by rows."""
    return app_spec(table.columns, PgSql())


def _json_count(*paths: Sequence[str]) -> tuple[str, list[str]]:
    """SQL of the first JSON number among ``metadata`` paths (as ``count`` reads it), and the checks
    that make a row odd (a value there that is not a whole number in range)."""
    values, odd = [], []
    for path in paths:
        node = quote("metadata") + "".join(f"->'{p}'" for p in path)
        values.append(f"CASE WHEN jsonb_typeof(({node})::jsonb) = 'number' THEN ({node}::text)::numeric END")
        odd.append(f"coalesce(jsonb_typeof(({node})::jsonb), 'null') NOT IN ('number', 'null')")
    value = f"coalesce({', '.join(values)})"
    odd.append(f"{count_range(value)} OR {value} <> trunc({value})")
    return value, odd


def litellm_sums(table: Table) -> SumSpec | None:
    """LiteLLM_SpendLogs: the ``litellm.spendlogs`` format's rules, in SQL (see core/formats/litellm)."""
    cols = table.columns
    need = ("startTime", "prompt_tokens", "completion_tokens", "total_tokens", "spend", "metadata")
    if not table.has(*need) or cols["startTime"] not in TIME_TYPES or cols["metadata"] not in JSON_TYPES or any(
            cols[c] not in INT_TYPES for c in need[1:4]) or cols["spend"] not in NUMBER_TYPES:
        return None
    usage = ("usage_object",)
    cached, odd_cached = _json_count((*usage, "prompt_tokens_details", "cached_tokens"),
                                     (*usage, "cache_read_input_tokens"))
    write, odd_write = _json_count((*usage, "prompt_tokens_details", "cache_creation_tokens"),
                                   (*usage, "cache_creation_input_tokens"))
    reasoning, odd_reasoning = _json_count((*usage, "completion_tokens_details", "reasoning_tokens"))
    p, c, t = quote("prompt_tokens"), quote("completion_tokens"), quote("total_tokens")
    prompt = f"({p} + CASE WHEN coalesce({cached}, 0) + coalesce({write}, 0) > {p} THEN coalesce({write}, 0) ELSE 0 END)"
    md = quote("metadata")
    status = (f"coalesce(CASE WHEN {quote('status')} ~ '\\S' THEN {quote('status')} END, CASE WHEN "
              f"jsonb_typeof({md}::jsonb->'status') = 'string' AND {md}->>'status' ~ '\\S' THEN {md}->>'status' END)"
              if "status" in cols else f"CASE WHEN jsonb_typeof({md}::jsonb->'status') = 'string' THEN {md}->>'status' END")
    labels = [label((name,), name, cols[name]) for name in ("custom_llm_provider", "model") if name in cols]
    labels += [Label(("metadata", *path), f"{md}" + "".join(f"->'{p}'" for p in path))
               for path in (("user_api_key_end_user_id",), ("user_api_key_user_id",), ("status",),
                            ("error_information", "error_message"))]
    labels += [label((name,), name, cols[name]) for name in ("user", "end_user", "status", "cache_hit") if name in cols]
    ts, spend = quote("startTime"), quote("spend")
    odd = [f"{ts} IS NULL", f"{ts} < '1970-01-01'", f"{ts} >= '3000-01-01'",
           f"({spend} IS NOT NULL AND NOT ({spend} >= 0 AND {spend} < 'Infinity'))",
           *(count_range(x) for x in (p, c, t)), *odd_cached, *odd_write, *odd_reasoning]
    return SumSpec(
        time=ts, time_key="startTime", labels=tuple(labels),
        counts={"prompt_tokens": f"coalesce({prompt}, 0)", "completion_tokens": f"coalesce({c}, 0)",
                "total_tokens": f"coalesce({t}, coalesce({prompt}, 0) + coalesce({c}, 0))",
                "cached_tokens": f"coalesce({cached}, 0)", "cache_write_tokens": f"coalesce({write}, 0)",
                "reasoning_tokens": f"coalesce({reasoning}, 0)"},
        missing=(f"({p} IS NULL AND {c} IS NULL AND {t} IS NULL) OR (lower({status}) = 'failure'"
                 f" AND coalesce({p}, 0) = 0 AND coalesce({c}, 0) = 0)"),
        zeroed_when_missing=("prompt_tokens", "completion_tokens", "total_tokens", "cached_tokens",
                             "cache_write_tokens", "reasoning_tokens"),
        mismatched=f"{p} IS NOT NULL AND {c} IS NOT NULL AND {t} IS NOT NULL AND abs({t}::bigint - {prompt} - {c}) > 1",
        cost=spend, odd=any_of(odd),
        base={"spend": 0.0, "request_id": None})
