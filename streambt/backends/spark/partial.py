"""Results of a Spark run that leaves some tables in Spark (``collect=``).

A large sweep makes one equity row per bar, cell and symbol: a billion rows
for 100 cells x 100 symbols x 100,000 bars, far more than a driver holds.
``cb.run(backend="spark", collect=("trades", "metrics"))`` brings back only
the tables named; the strategies' per-bar rows are then never made into Spark
rows at all unless the metrics need them. Reading a table that was not
collected raises an error that names the option to change.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import pyarrow as pa

from ...errors import BackendError, StreambtError, did_you_mean
from ...result import Result

#: every table a run can bring back
TABLES = ("factors", "orders", "fills", "trades", "equity", "positions", "metrics")


def check_collect(value: object) -> frozenset[str]:
    """``collect=`` as a set of table names (``None``: all of them)."""
    if value is None:
        return frozenset(TABLES)
    names = [value] if isinstance(value, str) else value
    if not isinstance(names, Iterable):
        raise BackendError(
            f"spark backend: collect must name result tables ({', '.join(TABLES)}), "
            f"got {type(value).__name__} {value!r}"
        )
    found = list(names)
    for name in found:
        if name not in TABLES:
            hint = did_you_mean(str(name), TABLES) if isinstance(name, str) else ""
            raise BackendError(
                f"spark backend: collect names result tables ({', '.join(TABLES)}); "
                f"{name!r} is not one.{hint}"
            )
    if not found:
        raise BackendError(
            f"spark backend: collect is empty; name at least one of {', '.join(TABLES)}, "
            "e.g. collect=('trades', 'metrics')"
        )
    return frozenset(found)


def not_collected(name: str, collected: Iterable[str]) -> StreambtError:
    kept = ", ".join(repr(t) for t in TABLES if t in set(collected))
    return StreambtError(
        f"this Spark run did not bring back the {name} table (collect=({kept})); "
        f"add {name!r} to collect= to have it"
    )


def _table(name: str, collected_as: str | None = None) -> property:
    """A table read only when collected (``collected_as``: the ``collect=`` name it comes with)."""
    wanted = collected_as or name

    def get(self: PartialResult) -> pa.Table:
        if wanted not in self.collected:
            raise not_collected(wanted, self.collected)
        value = self._tables[name]
        if not isinstance(value, pa.Table):
            value = self._tables[name] = value()
        return value

    def put(self: PartialResult, value: pa.Table | Callable[[], pa.Table]) -> None:
        self._tables[name] = value

    return property(get, put, doc=f"The {name} table (when collected).")


class PartialResult(Result):
    """A :class:`~streambt.result.Result` holding only the tables named in ``collect``."""

    factors = _table("factors")
    orders = _table("orders")
    fills = _table("fills")
    trades = _table("trades")
    equity = _table("equity")
    positions = _table("positions")
    #: the orders' status history comes with the orders
    order_events = _table("order_events", collected_as="orders")

    def __init__(
        self,
        collected: frozenset[str],
        metrics: pa.Table | Callable[[], pa.Table],
        **tables: Any,
    ) -> None:
        self.collected = collected
        self._tables: dict[str, pa.Table | Callable[[], pa.Table]] = {}
        super().__init__(metrics=metrics, **tables)

    @property
    def metrics(self) -> pa.Table:
        if "metrics" not in self.collected:
            raise not_collected("metrics", self.collected)
        return super().metrics

    def __repr__(self) -> str:
        sizes = ", ".join(
            f"{getattr(self, t).num_rows} {t}"
            for t in TABLES
            if t in self.collected and t in self._tables
        )
        return f"PartialResult({sizes}; collected {', '.join(sorted(self.collected))})"
