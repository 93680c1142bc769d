"""The demo's failure schedule: which fault is acted out when, where it shows, what should catch it.

Offsets are simulated seconds after the demo starts (real seconds at ``--speed 1``). Simulated time
starts ``MONTH_END_LEAD`` seconds before the end of a calendar month (UTC), so the billing-period
boundary (and the counter that fails to reset there) comes early in the demo. Phases marked
``repeats`` come back every ``CYCLE`` seconds; the month boundary happens once, and so do the two
phases tied to it. A phase marked ``in_history`` is already on in the traffic written for the time
before the demo started (the fault predates tokentop watching, as in seed 000).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Final

MONTH_END_LEAD: Final = 60.0
"""Simulated seconds between the demo's start and the end of the month."""
CYCLE: Final = 600.0
"""Long enough after the last phase stops for alerts over 5-minute windows to resolve."""


@dataclass(frozen=True, slots=True)
class Phase:
    id: str
    start: float
    stop: float
    repeats: bool
    fault: str
    shows_in: str
    alerts: tuple[str, ...]
    seed: str
    in_history: bool = False


# Every phase starts within two minutes at --speed 1, lasts long enough for its alert to fire, and
# stops so the alert can resolve.
SCHEDULE: Final[tuple[Phase, ...]] = (
    #      id                   start  stop  repeats
    Phase("untracked_provider", 0, 105, False,
          "deepseek calls are served but never reach the ledger or the usage counters, until a fix at 105 s",
          "ledger, endpoint", ("untracked_provider",), "000, 003", in_history=True),
    Phase("totals_mismatch", 25, 95, True,
          "gemini via its OpenAI-compatible API: completion excludes thoughts, total includes them",
          "gateway log, ledger", ("totals_mismatch",), "003"),
    Phase("counter_not_reset", MONTH_END_LEAD, MONTH_END_LEAD + 120, False,
          "bob's monthly counter is not reset at the month boundary and keeps growing",
          "endpoint", ("counter_drift",), "002"),
    Phase("quota_race", 50, 140, False,
          "dana (free plan, 50K/month) burns ~500 tokens a second towards her limit",
          "gateway log, ledger, endpoint", ("quota", "spike"), "002"),
    Phase("estimated_counts", 60, 150, True,
          "openrouter streams stop returning usage; the gateway estimates len/4 (token_source estimated)",
          "gateway log, ledger", ("accuracy_drop",), "002, 003"),
    Phase("logging_stopped", 75, 165, True,
          "the instagram webhook worker stops writing usage rows while traffic continues",
          "ledger", ("logging_stopped",), "004"),
    Phase("null_provider", 90, 150, True,
          "groq calls are written to the ledger with provider NULL",
          "ledger", ("unknown_provider",), "003"),
)
PHASES: Final[dict[str, Phase]] = {p.id: p for p in SCHEDULE}


def is_active(phase: Phase, offset: float) -> bool:
    """Whether ``phase`` is acted out ``offset`` simulated seconds after the demo started."""
    if offset < 0:
        return phase.in_history
    if phase.repeats:
        offset %= CYCLE
    return phase.start <= offset < phase.stop


def active_phases(offset: float) -> frozenset[str]:
    return frozenset(p.id for p in SCHEDULE if is_active(p, offset))


def month_end_after(ts: float) -> float:
    """The first UTC month boundary after ``ts`` (epoch seconds)."""
    t = datetime.fromtimestamp(ts, timezone.utc)
    year, month = (t.year + 1, 1) if t.month == 12 else (t.year, t.month + 1)
    return datetime(year, month, 1, tzinfo=timezone.utc).timestamp()


def simulated_start(wall_now: float) -> float:
    """Where simulated time starts: ``MONTH_END_LEAD`` seconds before the next month boundary."""
    return month_end_after(wall_now + MONTH_END_LEAD) - MONTH_END_LEAD
