"""Leading-edge painting: data after a quiet spell is folded at once; what follows within the gap
waits for one trailing tick; busy input is held to the refresh rate (no timing asserted: the gaps are
read, the clock is moved by hand)."""

from __future__ import annotations

from tokentop.ui import live

from .conftest import wait_for


async def test_data_after_a_quiet_spell_is_shown_at_once_then_throttled(make_app):
    app = make_app(refresh_hz=2)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: app.snapshot is not None)
        await pilot.pause(0.3)
        await wait_for(pilot, lambda: not app._snapshotting)  # (nothing runs between this and the next await)
        # GIVEN a quiet spell: the last tick is a second old
        app._last_tick -= 1.0
        before = app._last_tick
        # WHEN a line arrives: a tick starts now (leading edge), not at the next timer
        app.data_arrived(1)
        assert app._last_tick > before and app._trailing is None
        # AND another right after: it waits for one trailing tick, no second fold now
        started = app._last_tick
        app.data_arrived(1)
        assert app._last_tick == started and app._trailing is not None
        await wait_for(pilot, lambda: app._trailing is None and app._last_tick > started)


async def test_the_gap_is_short_for_a_trickle_and_the_refresh_rate_for_busy_input(make_app):
    app = make_app(refresh_hz=2)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: app.snapshot is not None and not app._snapshotting)
        app._fold_cost, app._arrived, app._last_tick_events = 0.001, 1, 1
        assert app.tick_gap() == live.LIGHT_GAP  # a line or two: shown as it lands
        app._arrived = live.LIGHT_EVENTS + 1
        assert app.tick_gap() == 0.5  # busy: at most refresh_hz ticks a second
        app._arrived, app._last_tick_events = 0, live.LIGHT_EVENTS + 1
        assert app.tick_gap() == 0.5  # (until a tick has carried a trickle again)
        app._last_tick_events, app._fold_cost = 0, 0.08
        assert app.tick_gap() == min(0.5, live.COST_FACTOR * 0.08)  # an expensive fold spaces ticks out
