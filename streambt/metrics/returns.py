"""Return, risk and drawdown metrics of one equity curve per (strategy, symbol).

Everything here is an Ibis expression: window functions partitioned by
``(strategy, symbol)`` and ordered by ``ts``, then aggregations. No frame is
given to ``lag``/``lead`` (Spark rejects a frame on offset functions), and
every running aggregate names its frame (``ROWS UNBOUNDED PRECEDING``), since
an unframed ordered window means different things on different engines.

Divisions go through ``nullif(0)`` instead of ``ifelse(d == 0, null, n / d)``:
Spark 4 runs ANSI SQL by default and raises on a division by zero, and an
engine may evaluate both branches of a ``CASE``.
"""

from __future__ import annotations

import ibis
import ibis.expr.datatypes as dt
import ibis.expr.types as ir

KEYS = ("strategy", "symbol")
DAYS_PER_YEAR = 365.25
MICROS_PER_DAY = 86_400_000_000.0


def f64(value: float) -> ir.FloatingScalar:
    """A float64 literal that every engine types as DOUBLE.

    ibis writes a float literal as ``1000.0``, which Spark (and DuckDB)
    parse as a DECIMAL: harmless next to a double column, but a literal that
    is itself a result column would come out as a decimal. A cast from the
    shortest round-trip string gives exactly the Python float.
    """
    return ibis.literal(repr(float(value))).cast("float64")


def flag(cond: ir.BooleanValue) -> ir.FloatingValue:
    """1.0 where ``cond`` holds, else 0.0 (its mean is a share of rows)."""
    return ibis.ifelse(cond, 1, 0).cast("float64")


def days_between(start: ir.TimestampValue, end: ir.TimestampValue) -> ir.FloatingValue:
    """Float days from ``start`` to ``end``, exact to the microsecond.

    ``TimestampDelta`` lowers to ``date_diff``/``timestampdiff`` in
    microseconds; epoch seconds would drop the sub-second part on Spark.
    """
    return end.delta(start, unit="microsecond").cast("float64") / MICROS_PER_DAY


def by_key(t: ir.Table) -> ibis.expr.builders.LegacyWindowBuilder:
    """The ordered window of one (strategy, symbol) curve, for ``lag``/``lead``."""
    return ibis.window(group_by=[t[k] for k in KEYS], order_by=t.ts)


def bar_frame(equity: ir.Table, initial_cash: float) -> ir.Table:
    """Add the per-bar columns every metric is built from.

    Columns added: ``ret`` (per-bar return, the first bar against
    ``initial_cash``), ``peak`` (running peak, starting at ``initial_cash``),
    ``drawdown``, ``below`` (equity under the peak), ``prev_ts``/``next_ts``
    (null at the ends), and ``run_id`` (number of at-peak bars so far, which
    numbers the drawdown runs: a run shares its id with the peak bar before
    it, or has id 0 when it starts at the first bar).
    """
    ts = equity.ts
    if ts.type().scale is not None and ts.type().scale > 6:
        # DuckDB has no date_trunc for TIMESTAMP_NS; the contract is microseconds.
        ts = ts.cast(dt.Timestamp(timezone=ts.type().timezone, scale=6))
    t = equity.select(
        *KEYS,
        ts=ts,
        position=equity.position.cast("float64"),
        equity=equity.equity.cast("float64"),
    )
    w = by_key(t)
    upto_now = ibis.cumulative_window(group_by=[t[k] for k in KEYS], order_by=t.ts)
    cash = f64(initial_cash)
    prev_equity = t.equity.lag().over(w).coalesce(cash)
    t = t.mutate(
        ret=t.equity / prev_equity.nullif(0.0) - 1.0,
        peak=ibis.greatest(cash, t.equity.max().over(upto_now)),
        prev_ts=t.ts.lag().over(w),
        next_ts=t.ts.lead().over(w),
    )
    t = t.mutate(drawdown=t.equity / t.peak - 1.0, below=t.equity < t.peak)
    at_peak = ibis.ifelse(t.below, 0, 1).cast("int64")
    return t.mutate(run_id=at_peak.sum().over(upto_now))


def curve_stats(bars: ir.Table, initial_cash: float, periods_per_year: float | None) -> ir.Table:
    """One row per (strategy, symbol): returns, risk and drawdown depth."""
    downside = ibis.least(bars.ret, 0.0)
    agg = bars.group_by(*KEYS).aggregate(
        start=bars.ts.min(),
        end=bars.ts.max(),
        bars=bars.count(),
        final_equity=bars.equity.max(where=bars.next_ts.isnull()),
        mean_ret=bars.ret.mean(),
        std_ret=bars.ret.std(how="sample"),
        downside_dev=(downside * downside).mean().sqrt(),
        max_drawdown=bars.drawdown.min(),
        exposure=flag(bars.position != 0.0).mean(),
    )
    cash = f64(initial_cash)
    years = days_between(agg.start, agg.end) / DAYS_PER_YEAR
    if periods_per_year is None:
        ppy = (agg.bars - 1).cast("float64") / years.nullif(0.0)
    else:
        ppy = f64(periods_per_year)
    agg = agg.mutate(years=years, periods_per_year=ppy)
    growth = agg.final_equity / cash
    # A ruined curve (final equity <= 0) has no real-valued CAGR.
    cagr = ibis.ifelse(growth > 0.0, growth ** (1.0 / agg.years.nullif(0.0)) - 1.0, None)
    root_ppy = agg.periods_per_year.sqrt()
    agg = agg.mutate(
        initial_cash=cash,
        total_return=growth - 1.0,
        cagr=cagr,
        annual_volatility=agg.std_ret * root_ppy,
        sharpe=agg.mean_ret / agg.std_ret.nullif(0.0) * root_ppy,
        sortino=agg.mean_ret / agg.downside_dev.nullif(0.0) * root_ppy,
    )
    return agg.mutate(calmar=agg.cagr / agg.max_drawdown.abs().nullif(0.0))


def drawdown_durations(bars: ir.Table) -> ir.Table:
    """Longest run of bars below the running peak, per (strategy, symbol).

    A run is measured in bars (bars below the peak) and in days, from the
    peak bar's ``ts`` (the first bar's when the run starts at the first bar,
    the peak being ``initial_cash``) to the recovery bar's ``ts`` (or the last
    ``ts`` when it never recovers). When several runs are the longest in bars,
    the longest of them in days is reported. Keys with no drawdown get no row.
    """
    under = bars.filter(bars.below)
    runs = under.group_by(*KEYS, "run_id").aggregate(
        n=under.count(),
        peak_ts=under.prev_ts.coalesce(under.ts).min(),
        end_ts=under.next_ts.coalesce(under.ts).max(),
    )
    runs = runs.mutate(days=days_between(runs.peak_ts, runs.end_ts))
    # Window results are mutated into columns before filtering on them: ibis
    # 12 compiles a window inside a filter for PySpark into a subquery whose
    # predicate still names the outer alias (UNRESOLVED_COLUMN).
    runs = runs.mutate(longest=runs.n.max().over(ibis.window(group_by=[runs[k] for k in KEYS])))
    runs = runs.filter(runs.n == runs.longest)
    return runs.group_by(*KEYS).aggregate(
        max_drawdown_duration_bars=runs.n.max(),
        max_drawdown_duration_days=runs.days.max(),
    )
