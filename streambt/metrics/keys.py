"""Which curves and trades the metrics of a run measure, and from what starting cash.

With v1 accounts every (strategy, symbol) starts with the Cerebro's cash and
its trades carry the same key. With the portfolio broker a strategy's curve
spans its symbols (``symbol = "*"``) and starts with its weight's share of the
portfolio's cash, and the portfolio's own curve starts with all of it: the
trades are counted for the strategy and for its portfolio. Engines compute the
metrics per starting-cash group with the one Ibis expression.

Examples
--------
>>> import pyarrow as pa
>>> keys = MetricKeys(cash={"a": 600.0, "b": 400.0, "p": 1000.0}, owner={"a": "p", "b": "p"})
>>> t = keys.trades(pa.table({"strategy": ["a"], "symbol": ["X"], "pnl": [1.0]}))
>>> t.to_pylist()
[{'strategy': 'a', 'symbol': '*', 'pnl': 1.0}, {'strategy': 'p', 'symbol': '*', 'pnl': 1.0}]
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.compute as pc

if TYPE_CHECKING:
    from streambt.graph import Graph

ALL_SYMBOLS = "*"


@dataclass(frozen=True)
class MetricKeys:
    """Starting cash by strategy name (portfolio runs) and each strategy's portfolio."""

    cash: dict[str, float] = field(default_factory=dict)
    owner: dict[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, graph: Graph) -> MetricKeys:
        """The keys of a run's (concrete) graph."""
        from streambt.ops.base import OpKind
        from streambt.ops.portfolio import Portfolio, starting_cash

        cash: dict[str, float] = {}
        owner: dict[str, str] = {}
        for node in graph.of_kind(OpKind.SIMULATION):
            if node.op is Portfolio:
                p = node.param_dict
                cash.update(starting_cash(p))
                owner.update((s["name"], p["name"]) for s in p["strategies"])
        return cls(cash, owner)

    def trades(self, trades: pa.Table) -> pa.Table:
        """``trades`` keyed like the equity curves they belong to."""
        if not self.owner or trades.num_rows == 0:
            return trades
        star = pa.repeat(pa.scalar(ALL_SYMBOLS, pa.string()), trades.num_rows)
        own = trades.set_column(trades.schema.get_field_index("symbol"), "symbol", star)
        names = own.column("strategy").to_pylist()
        portfolio = own.set_column(
            own.schema.get_field_index("strategy"),
            "strategy",
            pa.array([self.owner[n] for n in names], pa.string()),
        )
        return pa.concat_tables([own, portfolio])

    def groups(self, equity: pa.Table, default: float) -> list[tuple[float, list[str] | None]]:
        """(starting cash, strategy names, or None for every one) covering ``equity``."""
        if not self.cash:
            return [(default, None)]
        return self._grouped(pc.unique(equity.column("strategy")).to_pylist(), default)

    def by_cash(self, default: float) -> list[tuple[float, list[str] | None]]:
        """:meth:`groups` from the graph's names alone, for engines whose equity is not at hand
        (every curve of a portfolio run is a strategy or a portfolio the keys name)."""
        if not self.cash:
            return [(default, None)]
        return self._grouped(sorted(self.cash), default)

    def _grouped(self, names: list[str], default: float) -> list[tuple[float, list[str] | None]]:
        groups: dict[float, list[str]] = {}
        for name in names:
            groups.setdefault(self.cash.get(name, default), []).append(name)
        return sorted(groups.items()) or [(default, None)]
