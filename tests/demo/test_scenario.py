"""The failure schedule and simulated time."""

from __future__ import annotations

from datetime import datetime, timezone

from tokentop.demo.clock import SimClock
from tokentop.demo.scenario import CYCLE, MONTH_END_LEAD, SCHEDULE, active_phases, is_active, simulated_start

RULES = {"accuracy_drop", "logging_stopped", "untracked_provider", "counter_drift", "totals_mismatch",
         "unknown_provider", "quota", "spike"}


def test_every_phase_starts_within_two_minutes_lasts_and_stops():
    for phase in SCHEDULE:
        assert 0 <= phase.start < 120, phase.id
        assert phase.stop - phase.start >= 60, phase.id
        assert phase.stop < CYCLE - 120, phase.id  # quiet time afterwards, so alerts can resolve
        assert set(phase.alerts) <= RULES


def test_the_schedule_covers_the_required_faults():
    ids = {p.id for p in SCHEDULE}
    assert ids >= {"untracked_provider", "estimated_counts", "totals_mismatch", "logging_stopped", "quota_race",
                   "counter_not_reset"}
    assert {rule for p in SCHEDULE for rule in p.alerts} >= RULES - {"spike"} | {"spike"}


def test_repeating_phases_come_back_each_cycle_and_one_shot_ones_do_not():
    for phase in SCHEDULE:
        mid = (phase.start + phase.stop) / 2
        assert is_active(phase, mid)
        assert not is_active(phase, phase.stop)
        assert is_active(phase, -1) == phase.in_history
        assert is_active(phase, CYCLE + mid) == phase.repeats
    assert active_phases(-1) == {p.id for p in SCHEDULE if p.in_history}
    assert active_phases(CYCLE - 1) == frozenset()


def test_simulated_time_starts_just_before_a_month_boundary():
    for wall in (1_790_000_000.0, datetime(2026, 12, 31, 23, 59, 40, tzinfo=timezone.utc).timestamp()):
        start = simulated_start(wall)
        boundary = datetime.fromtimestamp(start + MONTH_END_LEAD, timezone.utc)
        assert (boundary.day, boundary.hour, boundary.minute, boundary.second) == (1, 0, 0, 0)
        assert start >= wall - 1


def test_sim_clock_runs_speed_times_faster():
    wall = [100.0]
    clock = SimClock(5000.0, speed=60, wall=lambda: wall[0])
    assert clock() == 5000.0
    wall[0] += 2
    assert clock() == 5120.0 and clock.offset() == 120.0
    assert clock.wall_seconds(120) == 2
