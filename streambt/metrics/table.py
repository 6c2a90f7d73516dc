"""The metrics table: one row per (strategy, symbol), as one Ibis expression.

:func:`metrics_expr` builds the expression from unbound or bound tables, so
the same expression runs on any backend that can lower window functions
(DuckDB, PySpark, Flink batch). :func:`compute_metrics` runs it on a DuckDB
connection for Arrow inputs. Definitions: ``docs/metrics.md``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping

import ibis
import ibis.expr.datatypes as dt
import ibis.expr.types as ir
import pyarrow as pa
import pyarrow.compute as pc

from streambt.errors import DataError, InvalidParameterError
from streambt.metrics.periods import pct_periods_profitable
from streambt.metrics.returns import KEYS, bar_frame, curve_stats, drawdown_durations
from streambt.metrics.trades import trade_stats

#: output columns, in order, with their types
METRIC_SCHEMA: dict[str, str] = {
    "strategy": "string",
    "symbol": "string",
    "start": "timestamp",
    "end": "timestamp",
    "bars": "int64",
    "initial_cash": "float64",
    "final_equity": "float64",
    "total_return": "float64",
    "cagr": "float64",
    "annual_volatility": "float64",
    "sharpe": "float64",
    "sortino": "float64",
    "max_drawdown": "float64",
    "max_drawdown_duration_bars": "int64",
    "max_drawdown_duration_days": "float64",
    "calmar": "float64",
    "trades": "int64",
    "win_rate": "float64",
    "avg_win": "float64",
    "avg_loss": "float64",
    "expectancy": "float64",
    "profit_factor": "float64",
    "exposure": "float64",
    "pct_months_profitable": "float64",
    "pct_weeks_profitable": "float64",
    "periods_per_year": "float64",
}
METRIC_COLUMNS: tuple[str, ...] = tuple(METRIC_SCHEMA)

_Check = Callable[[dt.DataType], bool]
_STRING: tuple[str, _Check] = ("string", lambda t: t.is_string())
_NUMBER: tuple[str, _Check] = ("numeric", lambda t: t.is_numeric())
_TIMESTAMP: tuple[str, _Check] = ("timestamp", lambda t: t.is_timestamp())
EQUITY_COLUMNS: dict[str, tuple[str, _Check]] = {
    "strategy": _STRING,
    "symbol": _STRING,
    "ts": _TIMESTAMP,
    "position": _NUMBER,
    "equity": _NUMBER,
}
TRADE_COLUMNS: dict[str, tuple[str, _Check]] = {
    "strategy": _STRING,
    "symbol": _STRING,
    "pnl": _NUMBER,
}


def metrics_expr(
    equity: ir.Table,
    trades: ir.Table,
    initial_cash: float,
    periods_per_year: float | None = None,
) -> ir.Table:
    """Build the metrics table expression, one row per (strategy, symbol).

    Parameters
    ----------
    equity : ibis.Table
        One row per (strategy, symbol, bar) with at least ``strategy``,
        ``symbol``, ``ts`` (UTC timestamp, unique per key), ``position`` and
        ``equity``.
    trades : ibis.Table
        Closed round trips with at least ``strategy``, ``symbol`` and ``pnl``
        (net). Keys with equity rows and no trade get ``trades = 0``.
    initial_cash : float
        Starting cash of every (strategy, symbol), > 0.
    periods_per_year : float, optional
        Bars per year for annualising. ``None`` infers it per key as
        ``(bars - 1) / years`` with ``years = (end - start) / 365.25 days``.

    Returns
    -------
    ibis.Table
        Columns :data:`METRIC_COLUMNS`, ordered by ``strategy, symbol``.
        Unbound inputs give an unbound expression, to execute later on any
        connection holding tables of those names.

    Examples
    --------
    >>> import ibis
    >>> equity = ibis.table(
    ...     {"strategy": "string", "symbol": "string", "ts": "timestamp",
    ...      "position": "float64", "equity": "float64"}, name="equity")
    >>> trades = ibis.table(
    ...     {"strategy": "string", "symbol": "string", "pnl": "float64"},
    ...     name="trades")
    >>> expr = metrics_expr(equity, trades, initial_cash=10_000.0)
    >>> expr.columns[:4]
    ('strategy', 'symbol', 'start', 'end')
    """
    cash = _check_number("initial_cash", initial_cash)
    ppy = None if periods_per_year is None else _check_number("periods_per_year", periods_per_year)
    _check_columns("equity", equity, EQUITY_COLUMNS)
    _check_columns("trades", trades, TRADE_COLUMNS)

    return metrics_from_bars(bar_frame(equity, cash), trades, cash, ppy)


def metrics_from_bars(
    bars: ir.Table, trades: ir.Table, initial_cash: float, periods_per_year: float | None = None
) -> ir.Table:
    """:func:`metrics_expr` from an already built :func:`bar_frame`.

    Every metric reads the per-bar frame; an engine that materializes it once
    (a DuckDB temp table, a cached Spark DataFrame) computes its window
    functions once instead of once per metric family.
    """
    cash = _check_number("initial_cash", initial_cash)
    ppy = None if periods_per_year is None else _check_number("periods_per_year", periods_per_year)
    parts = [
        drawdown_durations(bars),
        pct_periods_profitable(bars, cash, "M", "pct_months_profitable"),
        pct_periods_profitable(bars, cash, "W", "pct_weeks_profitable"),
        trade_stats(trades),
    ]
    out = curve_stats(bars, cash, ppy)
    for part in parts:
        joined = out.left_join(part, list(KEYS))
        # Keep the left keys; the right ones are null for unmatched rows.
        out = joined.select(*out.columns, *(c for c in part.columns if c not in KEYS))
    out = out.mutate(
        max_drawdown_duration_bars=out.max_drawdown_duration_bars.coalesce(0),
        max_drawdown_duration_days=out.max_drawdown_duration_days.coalesce(0.0),
        trades=out.trades.coalesce(0),
    )
    columns = {name: out[name].cast(typ) for name, typ in METRIC_SCHEMA.items()}
    columns["start"], columns["end"] = out.start, out.end  # keep the input's ts type
    return out.select(**columns).order_by(*KEYS)


def compute_metrics(
    con: ibis.BaseBackend,
    equity: pa.Table,
    trades: pa.Table,
    initial_cash: float,
    periods_per_year: float | None = None,
) -> pa.Table:
    """Compute the metrics of Arrow ``equity``/``trades`` on a DuckDB connection.

    Parameters
    ----------
    con : ibis DuckDB backend
        For example ``ibis.duckdb.connect()``.
    equity, trades : pyarrow.Table
        As for :func:`metrics_expr`. ``equity`` must have one row per
        (strategy, symbol, ts) and no null key, ``ts`` or ``equity``.
    initial_cash : float
        Starting cash of every (strategy, symbol).
    periods_per_year : float, optional
        Bars per year; inferred per key when ``None``.

    Returns
    -------
    pyarrow.Table
        One row per (strategy, symbol), sorted by ``strategy, symbol``.

    Raises
    ------
    DataError
        When a column is missing or of the wrong type, or ``equity`` has a
        duplicate (strategy, symbol, ts) or a null in a required column.

    Examples
    --------
    >>> import datetime as dt, ibis, pyarrow as pa
    >>> days = [dt.datetime(2024, 1, d) for d in (1, 2, 3)]
    >>> equity = pa.table({"strategy": ["s"] * 3, "symbol": ["X"] * 3, "ts": days,
    ...                    "position": [0.0, 1.0, 0.0], "equity": [100.0, 110.0, 99.0]})
    >>> trades = pa.table({"strategy": ["s"], "symbol": ["X"], "pnl": [-1.0]})
    >>> m = compute_metrics(ibis.duckdb.connect(), equity, trades, initial_cash=100.0)
    >>> row = m.to_pylist()[0]
    >>> round(row["total_return"], 12), round(row["max_drawdown"], 12), row["trades"]
    (-0.01, -0.1, 1)
    """
    _check_arrow(equity, trades)
    expr = metrics_expr(
        ibis.memtable(equity), ibis.memtable(trades), initial_cash, periods_per_year
    )
    result: pa.Table = con.to_pyarrow(expr)
    return result.sort_by([(k, "ascending") for k in KEYS])


def _check_number(name: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidParameterError(
            f"metrics: {name} must be a positive number, got {value!r} ({type(value).__name__})."
        )
    if not (math.isfinite(value) and value > 0):
        raise InvalidParameterError(f"metrics: {name} must be a positive number, got {value!r}.")
    return float(value)


def _check_columns(what: str, table: ir.Table, spec: Mapping[str, tuple[str, _Check]]) -> None:
    schema = table.schema()
    for name, (kind, ok) in spec.items():
        if name not in schema:
            raise DataError(
                f"metrics: the {what} table has no column {name!r}; expected "
                f"{', '.join(spec)}, got {', '.join(schema.names)}. Pass the "
                f"{what} table the portfolio stage writes, or rename the column."
            )
        if not ok(schema[name]):
            raise DataError(
                f"metrics: column {what}.{name} must be {kind}, got {schema[name]}. "
                f"Cast it before computing metrics."
            )


def _check_arrow(equity: pa.Table, trades: pa.Table) -> None:
    for what, table in (("equity", equity), ("trades", trades)):
        if not isinstance(table, pa.Table):
            raise DataError(
                f"compute_metrics: {what} must be a pyarrow.Table, got "
                f"{type(table).__name__}. Convert it with pyarrow.Table.from_pandas()."
            )
    for name in ("strategy", "symbol", "ts", "equity"):
        if name in equity.column_names and (nulls := equity[name].null_count):
            raise DataError(
                f"compute_metrics: equity.{name} has {nulls} null value(s); metrics "
                f"need a value on every bar. Drop or fill those rows first."
            )
    if not {"strategy", "symbol", "ts"} <= set(equity.column_names) or equity.num_rows == 0:
        return
    counts = equity.group_by(["strategy", "symbol", "ts"]).aggregate([("ts", "count")])
    dups = counts.filter(pc.greater(counts["ts_count"], 1))
    if dups.num_rows:
        first = dups.slice(0, 1).to_pylist()[0]
        raise DataError(
            f"compute_metrics: equity has {dups.num_rows} duplicate (strategy, symbol, ts) "
            f"key(s), e.g. strategy={first['strategy']!r}, symbol={first['symbol']!r}, "
            f"ts={first['ts']} appears {first['ts_count']} times; expected one row per bar. "
            f"Deduplicate the equity table first."
        )
