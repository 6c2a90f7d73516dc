"""The outcome of a run: Arrow tables, one accessor for indicator values, and export."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from .errors import StreambtError

if TYPE_CHECKING:
    from .compile.plan import Plan
    from .graph import Ref


TableOrBuilder: TypeAlias = pa.Table | Callable[[], pa.Table]


class _Table:
    """A result table given as a table or a zero-argument callable building it: built on first
    access, then kept (a run whose caller never reads, say, the order history never decodes
    it)."""

    def __set_name__(self, owner: type, name: str) -> None:
        self.slot = "_" + name
        self.__doc__ = f"The {name} table (a ``pyarrow.Table``, built on first access)."

    def __get__(self, obj: Any, owner: type | None = None) -> Any:
        if obj is None:
            return self
        value = obj.__dict__[self.slot]
        if not isinstance(value, pa.Table):
            value = obj.__dict__[self.slot] = value()
        return value

    def __set__(self, obj: Any, value: TableOrBuilder) -> None:
        obj.__dict__[self.slot] = value


class Result:
    """Tables of one run, all ``pyarrow.Table``.

    - ``factors``: the bars with every indicator column, ordered by (symbol, ts)
    - ``orders``, ``fills``, ``trades`` (closed round trips), ``equity`` (per
      strategy, symbol and bar), ``metrics`` (one row per strategy and symbol)
    - ``positions`` (units per bar per strategy and symbol) and ``order_events``
      (each order's status history, portfolio broker)

    With the portfolio broker, ``equity`` and ``metrics`` have one row per
    strategy (``symbol = "*"``) and one for the portfolio itself (see
    ``docs/broker.md``).

    Tables may be given as zero-argument callables: each is built on first access.

    Examples
    --------
    >>> res = cb.run()                       # doctest: +SKIP
    >>> res.values(fast)[-3:]                # doctest: +SKIP
    array([101.2, 101.5, 101.9])
    >>> res.to_dir("runs/x")                 # doctest: +SKIP
    """

    orders = _Table()
    fills = _Table()
    trades = _Table()
    equity = _Table()
    #: units per bar per strategy and symbol
    positions = _Table()
    #: every status change of every order (portfolio broker; empty for v1 accounts)
    order_events = _Table()

    def __init__(
        self,
        factors: pa.Table,
        orders: TableOrBuilder,
        fills: TableOrBuilder,
        trades: TableOrBuilder,
        equity: TableOrBuilder,
        metrics: TableOrBuilder,
        plan: Plan | None = None,
        frames: dict[str, pa.Table] | None = None,
        positions: TableOrBuilder | None = None,
        order_events: TableOrBuilder | None = None,
    ) -> None:
        from .backends.event_tables import PORTFOLIO_SCHEMAS, POSITION_SCHEMA

        self.factors = factors
        self.positions = positions if positions is not None else POSITION_SCHEMA.empty_table()
        self.order_events = (
            order_events
            if order_events is not None
            else PORTFOLIO_SCHEMAS["order_events"].empty_table()
        )
        #: higher-timeframe tables by timeframe ("1h", "1d@America/New_York"): their bars and indicators
        self.frames = frames or {}
        #: sweep runs: strategy name -> the parameters of its cell
        self.cells: dict[str, dict[str, Any]] = {}
        self.orders = orders
        self.fills = fills
        self.trades = trades
        self.equity = equity
        self.plan = plan
        # Metrics are aggregations over the whole equity curve: computed on
        # first use, so a run (or a sweep cell) that never reads them skips them.
        self._metrics = metrics if isinstance(metrics, pa.Table) else None
        self._compute_metrics = None if isinstance(metrics, pa.Table) else metrics

    @property
    def metrics(self) -> pa.Table:
        """One row per (strategy, symbol); see ``docs/metrics.md``. Computed on first access."""
        if self._metrics is None:
            assert self._compute_metrics is not None
            self._metrics = self._compute_metrics()
            self._compute_metrics = None
        return self._metrics

    def __repr__(self) -> str:
        return (
            f"Result({self.factors.num_rows} bars, {len(self.symbols)} symbol(s), "
            f"{self.orders.num_rows} orders, {self.trades.num_rows} trades)"
        )

    @property
    def symbols(self) -> list[str]:
        return sorted(set(self.factors.column("symbol").to_pylist()))

    def values(self, ref: Ref | str, symbol: str | None = None) -> np.ndarray:
        """An indicator's values (or a bar field's) as float64 numpy, in time order, NaN for nulls.

        With several symbols in the run, ``symbol`` picks one.
        """
        name = ref if isinstance(ref, str) else ref.column
        tables = [self.factors, *self.frames.values()]
        table = next((t for t in tables if name in t.column_names), None)
        if table is None:
            raise StreambtError(
                f"no column {name!r} in this result; pass a ref returned by this Cerebro's add_indicator"
            )
        syms = self.symbols
        if symbol is None and len(syms) > 1:
            raise StreambtError(
                f"this run has {len(syms)} symbols ({', '.join(syms[:5])}...); pass symbol=..."
            )
        if symbol is not None:
            if symbol not in syms:
                raise StreambtError(
                    f"no symbol {symbol!r} in this result; it has {', '.join(syms)}"
                )
            table = table.filter(pc.equal(table.column("symbol"), symbol))
        col = table.column(name)
        return np.asarray(col.cast(pa.float64()).to_numpy(zero_copy_only=False), dtype=np.float64)

    def ranking(self, by: str = "sharpe", descending: bool = True) -> pa.Table:
        """The metrics of every strategy (every sweep cell), with its parameters, best first.

        Examples
        --------
        >>> res.ranking("sharpe").slice(0, 5).to_pandas()   # doctest: +SKIP
        """
        metrics = self.metrics
        if by not in metrics.column_names:
            raise StreambtError(
                f"no metric {by!r}; metrics are {', '.join(metrics.column_names[2:])}"
            )
        names = sorted({k for cell in self.cells.values() for k in cell})
        strategies = metrics.column("strategy").to_pylist()
        table = metrics
        for name in names:
            values = [self.cells.get(s, {}).get(name) for s in strategies]
            table = table.append_column(name, pa.array(values))
        table = table.select(["strategy", "symbol", *names, *metrics.column_names[2:]])
        return table.sort_by(
            [(by, "descending" if descending else "ascending"), ("strategy", "ascending")]
        )

    def to_dir(self, path: str | Path) -> Path:
        """Write trades.csv, orders.csv, order_events.csv, fills.csv, equity.parquet,
        positions.parquet, factors.parquet, metrics.json."""
        out = Path(path)
        out.mkdir(parents=True, exist_ok=True)
        pacsv.write_csv(self.trades, out / "trades.csv")
        pacsv.write_csv(self.orders, out / "orders.csv")
        pacsv.write_csv(self.order_events, out / "order_events.csv")
        pacsv.write_csv(self.fills, out / "fills.csv")
        pq.write_table(self.equity, out / "equity.parquet")
        pq.write_table(self.positions, out / "positions.parquet")
        pq.write_table(self.factors, out / "factors.parquet")
        for name, table in self.frames.items():
            safe = "".join(c if c.isalnum() else "_" for c in name)
            pq.write_table(table, out / f"factors_{safe}.parquet")
        (out / "metrics.json").write_text(
            json.dumps(_json_rows(self.metrics), indent=2, default=str) + "\n"
        )
        if self.plan is not None:
            (out / "plan.txt").write_text(self.plan.explain() + "\n")
        if self.cells:
            pacsv.write_csv(self.ranking(), out / "ranking.csv")
        return out


def _json_rows(table: pa.Table) -> list[dict[str, Any]]:
    rows = table.to_pylist()
    for row in rows:
        for k, v in row.items():
            if isinstance(v, float) and not math.isfinite(v):
                row[k] = None
    return rows
