"""Checkpoints: what a run of tokentop had read and counted, so the next run reads only what is new.

One checkpoint per *source set* (the sources of a command line or config, by what they watch), in
``platformdirs.user_state_path("tokentop")/checkpoints`` -- never beside the watched files --, or
``--state-dir`` / ``$TOKENTOP_STATE_DIR``. It holds each source's resume state (``Source.checkpoint``),
its status counters, the aggregator's state (``tokentop.core.aggstate``) and, for the live app, the
alert engine's. See docs/checkpoints.md.

A checkpoint is used only when nothing that affects counting changed since it was written (the
*fingerprint*: tokentop's version and code, the plans and periods, the source options such as field
mappings and formats, the price overrides). Anything else -- another version, a damaged, truncated or
foreign file -- is reported in one line and the history is read again: never a crash, never wrong
totals. Files are written whole (a temporary file, fsync, rename), so two tokentops sharing a state
dir each leave a complete checkpoint; the last one written wins.

The file: ``MAGIC``, a 32-byte BLAKE2b digest of the payload, then the payload (msgpack).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import msgspec
import orjson
from platformdirs import user_state_path

import tokentop
from tokentop.config import Config, SourceConfig

MAGIC: Final = b"tokentop checkpoint\n"
STATE_DIR_ENV: Final = "TOKENTOP_STATE_DIR"
FULL: Final = "full"
"""Coverage of a checkpoint holding all history (``snapshot``, ``check``)."""
RECENT: Final = "recent"
"""Coverage of a checkpoint holding history since a moment (the live app's read-back)."""
_IDENTITY_KEYS: Final = ("path", "url", "table", "dsn", "listen")
"""Options naming what a source watches: they make the source set; the others are in the fingerprint."""
_STALE_TEMP = 3600.0


class SavedSource(msgspec.Struct):
    resume: dict[str, Any]
    """``Source.checkpoint()``."""
    status: dict[str, Any]
    """The status counters (see :func:`status_state`)."""


class Checkpoint(msgspec.Struct):
    identity: str
    fingerprint: dict[str, str]
    saved_at: float
    since: float | None
    """History is counted from this moment on (None: all of it)."""
    sources: list[SavedSource]
    """In the order of the source set."""
    aggregator: bytes
    """``aggstate.encode(aggregator.to_state())``."""
    alerts: bytes | None = None
    """The live app's alert engine state (``AlertEngine.to_state``), kept by runs that have none."""
    overlap: bytes | None = None
    """Requests matched across the counted sources (``RequestOverlap.to_state``), when there are several."""


_ENCODER = msgspec.msgpack.Encoder()
_DECODER = msgspec.msgpack.Decoder(Checkpoint)


def state_dir(explicit: str | os.PathLike[str] | None = None) -> Path:
    """``--state-dir``, else ``$TOKENTOP_STATE_DIR``, else the platform's user state dir."""
    chosen = explicit or os.environ.get(STATE_DIR_ENV)
    return Path(chosen).expanduser() if chosen else user_state_path("tokentop", appauthor=False)


def _digest(data: bytes, size: int = 32) -> bytes:
    return hashlib.blake2b(data, digest_size=size).digest()


def _short(value: Any) -> str:
    return _digest(orjson.dumps(value, option=orjson.OPT_SORT_KEYS, default=str), 12).hex()


def _watched(spec: SourceConfig) -> dict[str, Any]:
    """What a source watches, made absolute (a relative path means another file in another folder)."""
    out: dict[str, Any] = {}
    for key in _IDENTITY_KEYS:
        value = spec.options.get(key)
        if key == "path" and isinstance(value, (str, list)):
            paths = value.split(",") if isinstance(value, str) else value
            value = ",".join(os.path.abspath(os.path.expanduser(str(p).strip())) for p in paths)
        if value is not None:
            out[key] = value
    if spec.kind == "claude" and "path" not in out:  # the default folders depend on the environment
        out["env"] = [os.environ.get("CLAUDE_CONFIG_DIR"), str(Path.home())]
    return out


def identity(specs: Sequence[SourceConfig]) -> str:
    """The source set's name: a digest of what each source watches (never the paths or URLs
    themselves, which may hold credentials)."""
    return _short([[s.kind, s.name, _watched(s)] for s in specs])


@functools.cache
def code_digest() -> str:
    """A digest of the code that reads and counts (core, sources, the shipped price table): a
    checkpoint written by other code is not trusted, whatever its version number says."""
    root = Path(tokentop.__file__).parent
    digest = hashlib.blake2b(digest_size=12)
    for path in sorted([*root.glob("core/**/*.py"), *root.glob("sources/**/*.py"), *root.glob("data/*")]):
        with contextlib.suppress(OSError):
            digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes())
    return f"{tokentop.__version__}:{digest.hexdigest()}"


def fingerprint(specs: Sequence[SourceConfig], config: Config) -> dict[str, str]:
    """Everything that affects counting, by part (so a notice can say which part changed)."""
    plans = config.plans

    def period(p: Any) -> list[Any]:
        return [p.kind, p.tz.key, p.hours]

    return {
        "tokentop": code_digest(),
        "plans": _short({"billing": period(plans.billing_period), "default": plans.default_plan,
                         "assignments": dict(plans.assignments),
                         "periods": {name: period(plan.period) for name, plan in plans.plans.items()}}),
        "prices": _short(dict(config.prices)),
        "sources": _short([[s.kind, s.name, {k: v for k, v in s.options.items()
                                             if k not in _IDENTITY_KEYS and k != "start"}] for s in specs]),
    }


_PARTS: Final = {"tokentop": "tokentop's version or code", "plans": "the plans or periods",
                 "prices": "the price overrides", "sources": "the source options"}


@dataclass(frozen=True, slots=True)
class Loaded:
    """What :meth:`CheckpointStore.load` found: a checkpoint to use, or why there is none to use."""

    checkpoint: Checkpoint | None
    notice: str | None = None
    """One line for the user when a checkpoint was there but cannot be used."""


class CheckpointStore:
    """The checkpoint files of one source set (one per coverage: ``full`` and ``recent``)."""

    def __init__(self, directory: Path, specs: Sequence[SourceConfig], config: Config) -> None:
        self.directory = directory / "checkpoints"
        self.identity = identity(specs)
        self.fingerprint = fingerprint(specs, config)
        self.count = len(specs)

    def path(self, coverage: str) -> Path:
        return self.directory / f"{self.identity}.{coverage}.ckpt"

    def load(self, coverage: str) -> Loaded:
        path = self.path(coverage)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return Loaded(None)
        except OSError as exc:
            return Loaded(None, f"cannot read {path}: {exc.strerror or exc}")
        checkpoint, problem = self._parse(data)
        return Loaded(checkpoint, None if problem is None else f"{path.name} {problem}")

    def _parse(self, data: bytes) -> tuple[Checkpoint | None, str | None]:
        if not data.startswith(MAGIC):
            return None, "is not a tokentop checkpoint"
        digest, payload = data[len(MAGIC):len(MAGIC) + 32], data[len(MAGIC) + 32:]
        if _digest(payload) != digest:
            return None, "is damaged or truncated"
        try:
            checkpoint = _DECODER.decode(payload)
        except msgspec.DecodeError:
            return None, "is damaged (not a checkpoint of this tokentop)"
        if checkpoint.identity != self.identity or len(checkpoint.sources) != self.count:
            return None, "belongs to other sources"
        changed = [_PARTS.get(part, part) for part in sorted(set(self.fingerprint) | set(checkpoint.fingerprint))
                   if self.fingerprint.get(part) != checkpoint.fingerprint.get(part)]
        if changed:
            return None, f"is outdated ({' and '.join(changed)} changed since it was written)"
        return checkpoint, None

    def save(self, coverage: str, checkpoint: Checkpoint) -> str | None:
        """Write the checkpoint whole; None, or why it could not be written (never raised)."""
        payload = _ENCODER.encode(checkpoint)
        try:
            write_atomic(self.path(coverage), MAGIC + _digest(payload) + payload)
        except OSError as exc:
            return f"cannot write checkpoint in {self.directory}: {exc.strerror or exc}"
        return None

    def new(self, sources: list[SavedSource], aggregator: bytes, since: float | None, alerts: bytes | None,
            overlap: bytes | None = None, now: float | None = None) -> Checkpoint:
        return Checkpoint(self.identity, dict(self.fingerprint), time.time() if now is None else now, since,
                          sources, aggregator, alerts, overlap)


def write_atomic(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` in one step: readers see the old file or the new one, whole."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise
    with contextlib.suppress(OSError):  # the rename itself survives a crash once its folder is synced
        folder = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(folder)
        finally:
            os.close(folder)
    _remove_stale_temps(path)


def _remove_stale_temps(path: Path) -> None:
    """Temporary files a killed tokentop left behind (a live one is never this old)."""
    cutoff = time.time() - _STALE_TEMP
    for temp in path.parent.glob(f".{path.name}.*.tmp"):
        with contextlib.suppress(OSError):
            if temp.stat().st_mtime < cutoff:
                temp.unlink()


STATUS_FIELDS: Final = ("events", "skipped", "skip_reasons", "last_skip", "last_event_at")


def status_state(status: Any) -> dict[str, Any]:
    """A source status's counters (what it read and skipped so far; not its live state)."""
    state = {name: getattr(status, name) for name in STATUS_FIELDS}
    state["skip_reasons"] = dict(state["skip_reasons"])
    return state


def restore_status(status: Any, state: Mapping[str, Any]) -> None:
    status.events = int(state.get("events", 0))
    status.skipped = int(state.get("skipped", 0))
    status.skip_reasons.clear()
    status.skip_reasons.update({str(k): int(v) for k, v in dict(state.get("skip_reasons", {})).items()})
    status.last_skip = state.get("last_skip")
    status.last_event_at = state.get("last_event_at")
