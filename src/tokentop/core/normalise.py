"""Turn one decoded record into :class:`UsageEvent` s: the single place where counts are normalised.

Formats (``tokentop.core.formats``) say where a record keeps its fields; this module applies the
rules every format shares: time, provider spelling and inference, token-source, totals and mismatch,
custom field mappings (:mod:`tokentop.core.field_map`), cost from the price table, and superseding
(one event per request even when a request is reported by several records -- stream chunks, repeated
transcript lines). The raw line kept with an event has its credentials masked (:mod:`tokentop.core.redact`).

Superseding (one event per request, retractions of delivered ones) is kept by
:mod:`tokentop.core.supersede`: callers that deliver events call :meth:`Normaliser.deliver` (or
:meth:`Normaliser.take_retractions`) at each delivery, as ``LineDecoder.decode`` does.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import xxhash

from tokentop.core.event import UNKNOWN, SkipRecord, TokenSource, UsageEvent
from tokentop.core.field_map import MAPPABLE_FIELDS, apply_field_map
from tokentop.core.fields import decode_object
from tokentop.core.formats import DETECT_KEYS, SUPERSEDE, Fields, Format, Request, make_formats, request_fields
from tokentop.core.formats import app_typed
from tokentop.core.formats.app import add_app_fields
from tokentop.core.formats.app_extract import extractor
from tokentop.core.formats.app_lane import AppLane
from tokentop.core.providers import resolve_provider
from tokentop.core.redact import redacted_line
from tokentop.core.supersede import OnSkip, Superseding, stable_key
from tokentop.core.timeparse import LATEST, parse_time

CostFunction = Callable[[UsageEvent], float | None]

_PROVIDER_CACHE = 4096
_xxh = xxhash.xxh3_64_intdigest
_PART_SKIPS = 10_000
_SHAPE_CACHE = 1024


@dataclass(frozen=True, slots=True)
class NormaliseOptions:
    """How one source's records are read. Every option has a safe default."""

    source: str
    default_token_source: TokenSource = "actual"
    """What a record without ``token_source`` counts as."""
    format: str | None = None
    """Force one format by name instead of detecting it per record."""
    field_map: Mapping[str, str] = field(default_factory=dict)
    """Canonical field name -> dotted path in the record, for shapes tokentop cannot guess."""
    keep_raw: bool = True
    supersede_window: int = 100_000
    """How many superseding keys (request ids) are remembered to drop duplicates."""
    retract_window: int = 16_384
    """How many delivered events are kept (without raw) so that a later record can retract them."""


class Normaliser:
    """Normalises the records of one source (formats may keep per-source state, so one per source)."""

    def __init__(self, options: NormaliseOptions, cost_of: CostFunction | None = None) -> None:
        unknown = set(options.field_map) - MAPPABLE_FIELDS
        if unknown:
            raise ValueError(f"cannot map unknown field(s): {', '.join(sorted(unknown))}")
        self.options = options
        self._source, self._default_token_source = options.source, options.default_token_source
        self.formats: list[Format] = make_formats(options.format)
        self._cost_of = cost_of
        self._stream_formats = [fmt for fmt in self.formats if hasattr(fmt, "set_stream")]
        # A forced format may name bytes every useful line contains: other lines are not even parsed.
        self._needle: bytes | None = getattr(self.formats[0], "line_needle", None) if options.format else None
        # ... and may read its fields straight from the bytes, faster than a full parse.
        self._extract_line: Callable[[bytes], Request | Fields | None] | None = (
            getattr(self.formats[0], "extract_line", None) if options.format else None)
        self._defer_requests = not options.field_map  # (custom mappings need the record's dict)
        self._format_name = self.formats[0].name  # (of the Requests a forced format reads)
        self._superseding = Superseding(self._build, options.supersede_window, options.retract_window)
        self._part_skips: list[SkipRecord] = []
        """Skipped parts of several-request records (spans of an OTLP export), until a ``deliver``."""
        self._defer = self._superseding.defer
        self._providers: dict[tuple[str | None, str], tuple[str, bool, str]] = {}
        self._candidates: dict[tuple[str, ...], list[Format]] = {}
        """Record shape (its keys) -> the formats that may claim it, in detection order."""
        # App-shaped lines (the bulk of a gateway log) have a typed fast path; it declines whatever it
        # cannot read exactly as detection + AppFormat would (and custom mappings need the record).
        # (Only when every other format declares its DETECT_KEYS: the fast path declines exactly the
        # records carrying those keys, so a format without them could lose its records to ``app``.)
        app_fast = not options.field_map and (options.format == "app" or options.format is None and all(
            fmt.name == "app" or fmt.name in DETECT_KEYS for fmt in self.formats))
        self._app_line: Callable[[bytes], Any] | None = app_typed.decode_line if app_fast else None
        self._app_record: Callable[[Mapping[str, Any]], Any] | None = app_typed.convert_record if app_fast else None
        self._app_extract = extractor(app_typed.ATTRS, self.build) if app_fast else None
        """The event of what the typed path decoded (None: the general path reads the record)."""
        self._lane = AppLane(self.build) if app_fast else None
        """Faster still for lines of the key sets the typed path has read before (see app_lane)."""

    def set_stream(self, key: Hashable) -> None:
        """The lines that follow come from the stream (file) ``key``: for formats whose lines only
        mean something after the earlier lines of the same file (Codex rollouts name their session and
        model once, then count usage), so that lines of several files read in turn are not mixed up."""
        for fmt in self._stream_formats:
            fmt.set_stream(key)

    @property
    def line_needle(self) -> bytes | None:
        """Bytes every line that can give an event contains (None: any line may); see formats."""
        return self._needle

    def from_line(self, line: bytes, read_time: float) -> UsageEvent | None:
        """Decode one JSON line and normalise it (None: absorbed by a stateful format).

        For a record that holds several requests this raises ``SkipRecord("several_events")``
        (before touching any state); line-based sources use :meth:`events_from_line`.
        """
        found = self.app_event(line, read_time)
        if found is not None:
            return found
        record = decode_object(line)
        return self._from_record(record, read_time, redacted_line(line, record) if self.options.keep_raw else None)

    def from_record(self, record: Mapping[str, Any], read_time: float, raw: bytes | None = None) -> UsageEvent | None:
        if (event := self._app_record_event(record, read_time, raw)) is not None:
            return event
        return self._from_record(record, read_time, raw)

    def _app_record_event(self, record: Mapping[str, Any], read_time: float, raw: bytes | None
                          ) -> UsageEvent | None:
        """The event of an app-shaped record through the typed path (None: the general path reads it)."""
        if self._app_record is None or (s := self._app_record(record)) is None:
            return None
        return self._app_extract(s, read_time, raw)  # type: ignore[misc]

    def _from_record(self, record: Mapping[str, Any], read_time: float, raw: bytes | None) -> UsageEvent | None:
        extracted = self._extract(record)
        if type(extracted) is list:
            if len(extracted) > 1:
                raise SkipRecord("several_events", f"record holds {len(extracted)} requests")
            extracted = extracted[0] if extracted else None
        if extracted is None:
            return None
        return self._event(record, extracted, read_time, raw)

    def events_from_line(self, line: bytes, read_time: float) -> list[UsageEvent]:
        """All events of one JSON line (most lines give one; an OTLP export gives one per span)."""
        if self._needle is not None and self._needle not in line:
            return []
        if self._extract_line is not None:
            return self.events_from_candidate(line, read_time)
        found = self.app_event(line, read_time)
        if found is not None:
            return [found]
        record = decode_object(line)
        return self._events_from_record(record, read_time,
                                        redacted_line(line, record) if self.options.keep_raw else None)

    def app_event(self, line: bytes, read_time: float) -> UsageEvent | None:
        """The event of an app-shaped line through the fast paths (None: the general path reads it)."""
        lane, typed = self._lane, self._app_line
        if lane is None or typed is None:
            return None
        raw = line if self.options.keep_raw else None
        event = lane.event(line, read_time, raw)
        if event is None and (s := typed(line)) is not None:
            event = self._app_extract(s, read_time, raw)  # type: ignore[misc]
            lane.learn(line)  # after reading it: a line the typed path declines is never learned
        return event

    def events_from_record(
        self, record: Mapping[str, Any], read_time: float, raw: bytes | None = None
    ) -> list[UsageEvent]:
        if (event := self._app_record_event(record, read_time, raw)) is not None:
            return [event]
        return self._events_from_record(record, read_time, raw)

    def _events_from_record(self, record: Mapping[str, Any], read_time: float, raw: bytes | None
                            ) -> list[UsageEvent]:
        extracted = self._extract(record)
        if extracted is None:
            return []
        if type(extracted) is list:
            return self._events_of_parts(record, extracted, read_time, raw)
        event = self._event(record, extracted, read_time, raw)
        return [] if event is None else [event]

    def events_from_fields(self, parts: list[Fields | SkipRecord], read_time: float) -> list[UsageEvent]:
        """The events of field dicts a caller extracted itself (the OTLP receiver: one per span or data
        point), superseding included. A part that is a SkipRecord, or whose event cannot be built, is a
        skip handed to the next :meth:`deliver`'s ``on_skip``; the other parts still count."""
        return self._events_of_parts({}, parts, read_time, None)

    def _events_of_parts(self, record: Mapping[str, Any], parts: list[Any], read_time: float, raw: bytes | None
                         ) -> list[UsageEvent]:
        """One record holding several requests (an OTLP export): each part counts or is skipped alone."""
        events: list[UsageEvent] = []
        for part in parts:
            if isinstance(part, SkipRecord):
                self._skip_part(part)
                continue
            try:
                event = self._event(record, part, read_time, raw)
            except SkipRecord as exc:
                self._skip_part(exc)
                continue
            if event is not None:
                events.append(event)
        return events

    def _skip_part(self, problem: SkipRecord) -> None:
        if len(self._part_skips) < _PART_SKIPS:
            self._part_skips.append(problem)
        else:  # nobody delivers: keep the count, not every detail
            self._part_skips[-1] = SkipRecord(problem.reason, f"{problem.detail} (and more not shown)")

    def events_from_candidate(self, line: bytes, read_time: float) -> list[UsageEvent]:
        """:meth:`events_from_line` for a line the caller found :attr:`line_needle` in (``LineDecoder``
        looks for it in a whole chunk), so the line is not searched again."""
        if self._extract_line is None:
            return self.events_from_line(line, read_time)
        event = self._candidate(line, self._extract_line(line), read_time, self._superseding.kept)
        return [] if event is None else [event]

    def read_candidate(self, line: bytes, read_time: float) -> None:
        """:meth:`events_from_candidate`, but its event comes out of the next :meth:`deliver` (built
        then, once, from the best record of its request: see ``tokentop.core.supersede``)."""
        if self._extract_line is None:
            for event in self.events_from_line(line, read_time):
                self._superseding.queue(event)
            return
        fields = self._extract_line(line)
        if type(fields) is tuple and self._defer_requests:  # the common transcript line, the short way
            self._defer(_xxh(fields[0].encode("utf-8", "surrogatepass")), fields[1], fields, read_time, line if self.options.keep_raw else None)
            return
        event = self._candidate(line, fields, read_time, self._superseding.defer)
        if event is not None:
            self._superseding.queue(event)

    def _candidate(self, line: bytes, fields: Request | Fields | None, read_time: float,
                   kept: Callable[..., UsageEvent | None]) -> UsageEvent | None:
        """The event of what ``extract_line`` read from a line (superseding through ``kept``)."""
        if fields is None:
            return None
        raw = line if self.options.keep_raw else None
        if type(fields) is tuple:  # a Request: superseding is checked before anything is built
            if not self.options.field_map:
                return kept(stable_key(fields[0]), fields[1], fields, read_time, raw)
            fields = request_fields(fields)
        fields.setdefault("format", self._format_name)
        record = decode_object(line) if self.options.field_map else {}  # custom mappings need the record
        return self._event(record, fields, read_time, raw, kept)

    def deliver(self, on_skip: OnSkip | None = None) -> list[UsageEvent]:
        """Mark everything produced so far as delivered; return the events :meth:`read_candidate`
        queued. Records whose deferred build failed, and the skipped parts of records holding several
        requests, go to ``on_skip``. The delivered events since superseded wait for
        :meth:`take_retractions`."""
        if on_skip is not None and self._part_skips:
            skipped, self._part_skips = self._part_skips, []
            for problem in skipped:
                on_skip(problem)
        return self._superseding.deliver(on_skip)

    def superseding_state(self) -> dict[str, Any]:
        """The superseding state to resume from (after a delivery; see ``Superseding.export_state``)."""
        return self._superseding.export_state()

    def restore_superseding(self, state: Mapping[str, Any]) -> None:
        """Resume a fresh normaliser from :meth:`superseding_state`; ValueError if ``state`` is not one."""
        self._superseding.import_state(state)

    def superseding(self) -> Superseding:
        """The superseding state itself (a parallel backfill compares the keys of its shares)."""
        return self._superseding

    def drop_raw(self) -> None:
        """Keep no raw lines from now on (a reader whose events are never shown one by one)."""
        self.options = replace(self.options, keep_raw=False)

    def widened(self, window: int) -> Normaliser:
        """A fresh normaliser for a backfill worker: it remembers ``window`` superseding keys and
        delivered events (every key of its share, to be compared with the other shares'), and keeps
        no raw lines (only the newest requests show them; a batch of transcript lines held tens of MB)."""
        normaliser = Normaliser(replace(self.options, keep_raw=False), self._cost_of)
        normaliser._superseding.widen(window)
        return normaliser

    def fresh(self) -> Normaliser:
        """A normaliser with the same options and none of this one's state (to read a record's time
        without disturbing what this one remembers)."""
        return Normaliser(self.options, self._cost_of)

    def take_retractions(self) -> list[UsageEvent]:
        """Deliver (see :meth:`deliver`: for callers of the methods that return events, which queue
        none) and return the delivered events since superseded."""
        self._superseding.deliver(None)
        return self._superseding.take_retractions()

    def _event(self, record: Mapping[str, Any], fields: Fields, read_time: float, raw: bytes | None,
               kept: Callable[..., UsageEvent | None] | None = None) -> UsageEvent | None:
        if self.options.field_map:
            apply_field_map(self.options.field_map, record, fields)
        supersede = fields.pop(SUPERSEDE, None)
        if supersede is None:
            return self._finish(fields, read_time, raw)
        return (kept or self._superseding.kept)(stable_key(supersede[0]), supersede[1], fields, read_time, raw)

    def _extract(self, record: Mapping[str, Any]) -> Fields | list[Fields] | None:
        shape = tuple(record)
        candidates = self._candidates.get(shape)
        if candidates is None:
            if len(self._candidates) >= _SHAPE_CACHE:
                self._candidates.clear()  # ever-new shapes only clear the cache, never grow it
            candidates = self._candidates[shape] = self._formats_for(shape)
        for fmt in candidates:
            if fmt.detect(record):
                fields = fmt.extract(record)
                if type(fields) is list:
                    for one in fields:
                        if type(one) is dict:  # (a part may be a SkipRecord)
                            one.setdefault("format", fmt.name)
                elif fields is not None:
                    fields.setdefault("format", fmt.name)
                    if fmt.name != "app":  # (the app format reads them itself)
                        add_app_fields(record, fields)
                return fields
        raise SkipRecord("unrecognised_format", f"not a {self.options.format} record")

    def _formats_for(self, shape: tuple[str, ...]) -> list[Format]:
        """The formats whose detect() can accept a record with these keys (DETECT_KEYS), in order."""
        keys = set(shape)
        return [fmt for fmt in self.formats
                if fmt.name not in DETECT_KEYS or not keys.isdisjoint(DETECT_KEYS[fmt.name])]

    def _build(self, fields: Fields | Request, read_time: float, raw: bytes | None) -> UsageEvent:
        """The event of a Fields dict or a Request (positional: several times faster than the dict)."""
        if type(fields) is not tuple:
            return self._finish(fields, read_time, raw)  # type: ignore[arg-type]
        _, _, ts, request_id, named, model, prompt, completion, cached, write, reasoning, cost = fields
        return self.build(ts, request_id, None, None, None, None, None, named, model, prompt, completion, None,
                          cached, write, reasoning, None, cost, None, None, None, False, self._format_name,
                          read_time, raw)

    def _finish(self, fields: Fields, read_time: float, raw: bytes | None) -> UsageEvent:
        get = fields.get
        event = self._build_fields(fields, read_time, raw)
        requests = get("requests")
        if requests is not None:  # usage for N requests (OTLP metric deltas): see UsageEvent.requests
            event.requests = requests
        return event

    def _build_fields(self, fields: Fields, read_time: float, raw: bytes | None) -> UsageEvent:
        get = fields.get
        return self.build(
            get("ts"), get("request_id"), get("user"), get("api_key_id"), get("team"), get("platform"),
            get("endpoint"), get("provider"), get("model"), get("prompt_tokens"), get("completion_tokens"),
            get("total_tokens"), get("cached_tokens"), get("cache_write_tokens"), get("reasoning_tokens"),
            get("token_source"), get("cost"), get("latency_ms"), get("status"), get("error"), get("cache_hit"),
            get("format"), read_time, raw)

    def build(self, ts: Any, request_id: str | None, user: str | None, api_key_id: str | None, team: str | None,
              platform: str | None, endpoint: str | None, provider: str | None, model: str | None,
              prompt: int | None, completion: int | None, total: int | None, cached: int | None,
              cache_write: int | None, reasoning: int | None, token_source: str | None, cost: float | None,
              latency: float | None, status: str | None, error: str | None, cache_hit: Any, fmt: str | None,
              read_time: float, raw: bytes | None) -> UsageEvent:
        """The event of one request from the fields a format read: the rules every format shares (time,
        provider spelling and inference, token source, totals and mismatch, cost). The hot path of
        every record: the event is built positionally."""
        time_inferred = False
        if type(ts) is not float or not 0.0 <= ts < LATEST:  # (else already epoch seconds: the fast paths')
            try:
                ts = parse_time(ts)
            except (ValueError, OverflowError, OSError) as exc:
                raise SkipRecord("bad_time", str(exc)) from None
            if ts is None:  # no time, or an empty time string: the read time
                ts, time_inferred = read_time, True
        known = self._providers.get((provider, model or UNKNOWN))
        provider, provider_inferred, model = (
            resolve_provider(provider, model or UNKNOWN, self._providers, _PROVIDER_CACHE) if known is None else known)
        token_source = token_source or self._default_token_source
        if prompt is None and completion is None and total is None:
            token_source = "missing"  # a request without usage still counts, whatever it claims
        if token_source == "missing":
            prompt = completion = total = 0
        mismatched = (
            total is not None and prompt is not None and completion is not None
            and abs(total - prompt - completion) > 1
        )
        prompt = prompt or 0
        completion = completion or 0
        if total is None:
            total = prompt + completion
        event = UsageEvent(
            ts, self._source, request_id, user, api_key_id, team, platform, endpoint, provider,
            provider_inferred, model, prompt, completion, total, cached or 0, cache_write or 0, reasoning or 0,
            token_source, mismatched, cost, False, latency, status, error, bool(cache_hit), time_inferred, fmt, raw)
        if cost is None and self._cost_of is not None and token_source != "missing":
            cost = self._cost_of(event)
            if cost is not None:
                event.cost, event.cost_computed = cost, True
        return event

    # -- what readers compiled for a fixed record shape (tokentop.core.rows) share with the normaliser --

    def format_names_for(self, keys: tuple[str, ...]) -> tuple[str, ...]:
        """Names of the formats that may read a record with exactly these keys, in detection order."""
        return tuple(fmt.name for fmt in self._formats_for(keys))

