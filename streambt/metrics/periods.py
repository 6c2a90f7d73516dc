"""Share of profitable calendar periods (months, ISO weeks) per curve.

A period's equity is the equity of its last bar; its return is measured
against the previous period's last equity (the first period against
``initial_cash``). Periods come from ``date_trunc`` on the UTC ``ts``:
``month`` starts on the 1st, ``week`` on Monday (ISO) on DuckDB and Spark
alike; both ibis backends pin the session time zone to UTC, so a
time-zone-aware ``ts`` truncates in UTC too.
"""

from __future__ import annotations

from typing import Literal

import ibis.expr.types as ir

from streambt.metrics.returns import KEYS, by_key, f64, flag

Unit = Literal["M", "W"]


def pct_periods_profitable(bars: ir.Table, initial_cash: float, unit: Unit, name: str) -> ir.Table:
    """One row per (strategy, symbol) with column ``name``: the profitable share.

    ``bars`` is the frame of :func:`streambt.metrics.returns.bar_frame`;
    ``unit`` is ``"M"`` (calendar month) or ``"W"`` (ISO week).
    """
    period = bars.ts.truncate(unit)
    # The window goes into a column first: see drawdown_durations.
    marked = bars.select(
        *KEYS, "ts", "equity", period=period, next=period.lead().over(by_key(bars))
    )
    last_bars = marked.filter(marked.next.isnull() | (marked.next != marked.period))
    last_bars = last_bars.select(*KEYS, "ts", "equity")
    before = last_bars.equity.lag().over(by_key(last_bars))
    cash = f64(initial_cash)
    up = last_bars.equity > before.coalesce(cash)
    last_bars = last_bars.mutate(up=flag(up))
    return last_bars.group_by(*KEYS).aggregate(**{name: last_bars.up.mean()})
