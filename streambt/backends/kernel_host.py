"""Hosts kernels over Arrow bars, one key at a time, keeping state between feeds.

A batch Scan stage is one :meth:`KernelRunner.feed` of the whole table; the
embedded stream mode feeds the same runner micro-batch by micro-batch. Both
paths run the same code, which is what makes them agree.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from typing import Any, TypeAlias

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .. import sim  # noqa: F401  (registers the simulation kernels)
from ..graph import Graph, Node
from ..io.resample import symbol_runs
from ..io.schema import constant_strings, float_array
from ..kernels import KERNELS, Kernel, SimulationKernel, State
from ..ops.base import OpKind
from ..ops.portfolio import Portfolio
from .event_tables import (
    EQUITY_SCHEMA,
    EVENT_SCHEMAS,
    PORTFOLIO_SCHEMAS,
    POSITION_SCHEMA,
    decode_event_columns,
)
from .portfolio_host import PortfolioHost

#: below this many bar-strategies a thread pool costs more than it saves
PARALLEL_MIN_ROWS = 200_000


def kernel_for(node: Node) -> Kernel:
    """The kernel of ``node``, bound to its parameters."""
    params: dict[str, Any] = dict(node.param_dict)
    if node.kind is OpKind.SIMULATION:
        alloc = params.pop("allocation")
        params.pop("name")
        params.pop("start", None)  # the host masks the warm-up, the kernel never sees it
        params.update(alloc)
    cls = KERNELS[node.op.op_name()]
    return cls(**params)


def as_float(col: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """A column as float64 numpy, nulls as NaN."""
    if isinstance(col, pa.ChunkedArray):
        col = col.chunk(0) if col.num_chunks == 1 else col.combine_chunks()
    if col.type != pa.float64():
        col = col.cast(pa.float64())
    # Without nulls the Arrow buffer is the numpy array (no copy).
    return np.asarray(col.to_numpy(zero_copy_only=col.null_count == 0), dtype=np.float64)


def key_slices(symbols: pa.ChunkedArray | pa.Array) -> list[tuple[str, int, int]]:
    """(symbol, start, stop) runs of a column ordered by symbol."""
    return symbol_runs(symbols)


Key = tuple[str, str]  # (strategy, symbol)
Part: TypeAlias = pa.Table | Callable[[], pa.Table]


@dataclass
class SimOutput:
    """Per-bar equity and position rows and event tables produced by simulations, in parts.

    v1 parts are keyed by (strategy, symbol); parts of one key arrive in time
    order (chunk after chunk, then ``finish``), each already ordered within;
    putting the parts in key order (a stable sort of a few keys, not of the
    rows) gives the tables' canonical order. A portfolio gives one equity and
    one positions part per strategy name, already ordered, and its events
    (keyed by the portfolio's name) keep the kernel's order.
    """

    equity: list[tuple[Key, pa.Table]] = field(default_factory=list)
    positions: list[tuple[Key, pa.Table]] = field(default_factory=list)
    #: portfolio hosts' position tables, built when first read (a run that never reads them
    #: skips sorting a row per bar and strategy)
    later_positions: list[Callable[[], list[tuple[str, pa.Table]]]] = field(default_factory=list)
    #: event tables by name, in parts (a part may be a callable that builds it)
    events: dict[str, list[tuple[Key, Part]]] = field(default_factory=dict)
    portfolio: bool = False

    def add_equity(self, strategy: str, symbol: str, table: pa.Table) -> None:
        self.equity.append(((strategy, symbol), table))

    def add_positions(self, strategy: str, symbol: str, table: pa.Table) -> None:
        self.positions.append(((strategy, symbol), table))

    def add_portfolio(self, host: PortfolioHost) -> None:
        """Everything ``host`` wrote (call after its ``finish``); its event tables are
        decoded when first read."""
        self.portfolio = True
        self.equity += [((name, ""), t) for name, t in host.equity_tables()]
        self.later_positions.append(host.position_tables)
        for name, build in host.event_tables().items():
            self.events.setdefault(name, []).append(((host.name, ""), build))

    def add_events(
        self, strategy: str, symbol: str, events: Mapping[str, Mapping[str, np.ndarray]]
    ) -> None:
        for name, cols in events.items():
            n = len(next(iter(cols.values()))) if cols else 0
            if n == 0:
                continue
            decoded = decode_event_columns(name, cols)
            head = {
                "strategy": constant_strings(strategy, n),
                "symbol": constant_strings(symbol, n),
            }
            table = pa.table({**head, **decoded}, schema=EVENT_SCHEMAS[name])
            self.events.setdefault(name, []).append(((strategy, symbol), table))

    def positions_table(self) -> pa.Table:
        """The positions of every simulation, ordered by (strategy, symbol, ts)."""
        parts = list(self.positions)
        for build in self.later_positions:
            parts += [((name, ""), t) for name, t in build()]
        return _concat_in_key_order(parts, POSITION_SCHEMA)

    def tables(self) -> dict[str, pa.Table]:
        """Concatenated tables, ordered by (strategy, symbol, time or id)."""
        lazy = self.lazy_tables()
        return {name: lazy[name] for name in lazy}

    def lazy_tables(self) -> LazyTables:
        """:meth:`tables`, each built on first access."""
        builders: dict[str, Callable[[], pa.Table]] = {
            "equity": partial(_concat_in_key_order, self.equity, EQUITY_SCHEMA),
            "positions": self.positions_table,
        }
        schemas = PORTFOLIO_SCHEMAS if self.portfolio else EVENT_SCHEMAS
        for name, schema in schemas.items():
            builders[name] = partial(_concat_in_key_order, self.events.get(name, []), schema)
        builders.setdefault("order_events", PORTFOLIO_SCHEMAS["order_events"].empty_table)
        return LazyTables(builders)


class LazyTables(Mapping[str, pa.Table]):
    """Tables by name, each built by its callable on first access and then kept.

    >>> tables = LazyTables({"t": lambda: pa.table({"x": [1]})})
    >>> tables["t"].num_rows, tables.later("t")() is tables["t"]
    (1, True)
    """

    def __init__(self, builders: Mapping[str, Callable[[], pa.Table]]) -> None:
        self._builders = dict(builders)
        self._built: dict[str, pa.Table] = {}

    def __getitem__(self, name: str) -> pa.Table:
        if name not in self._built:
            self._built[name] = self._builders[name]()
        return self._built[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._builders)

    def __len__(self) -> int:
        return len(self._builders)

    def later(self, name: str) -> Callable[[], pa.Table]:
        """A callable that gives the table ``name`` (for a :class:`~streambt.result.Result`)."""
        if name not in self._builders:
            raise KeyError(name)
        return partial(self.__getitem__, name)


def _concat_in_key_order(parts: list[tuple[Key, Part]], schema: pa.Schema) -> pa.Table:
    if not parts:
        return schema.empty_table()
    ordered = sorted(parts, key=lambda part: part[0])  # stable: a key's parts keep their order
    tables = [t if isinstance(t, pa.Table) else t() for _, t in ordered]
    return pa.concat_tables(tables) if len(tables) > 1 else tables[0]


class KernelRunner:
    """Runs indicator kernels and simulations over bars, keeping per-(node, key) state."""

    def __init__(
        self,
        graph: Graph,
        nodes: Iterable[Node],
        universes: Mapping[str, frozenset[str]],
        per_bar: bool = True,
    ) -> None:
        self.graph = graph
        #: False: keep the simulations' events only, no per-bar equity and position tables
        #: (building them costs several times the simulations themselves)
        self.per_bar = per_bar
        nodes = list(nodes)
        self.nodes = [n for n in nodes if n.kind is not OpKind.SIMULATION]
        self.sims = [n for n in nodes if n.kind is OpKind.SIMULATION and n.op is not Portfolio]
        self.portfolios = [PortfolioHost(n, graph, universes) for n in nodes if n.op is Portfolio]
        self.kernels = {n.id: kernel_for(n) for n in [*self.nodes, *self.sims]}
        self.universes = universes
        self.states: dict[tuple[str, str], State] = {}
        self.sim_output = SimOutput()

    def _state(self, node_id: str, symbol: str) -> State:
        key = (node_id, symbol)
        if key not in self.states:
            self.states[key] = self.kernels[node_id].init()
        return self.states[key]

    def feed(self, bars: pa.Table) -> pa.Table:
        """Consume ``bars`` (ordered by symbol, ts); return them with the indicator columns added."""
        slices = key_slices(bars.column("symbol"))
        arrays: dict[str, np.ndarray] = {}

        def column(name: str) -> np.ndarray:
            if name not in arrays:
                arrays[name] = as_float(bars.column(name))
            return arrays[name]

        whole = len(slices) == 1
        for node in self.nodes:
            kernel = self.kernels[node.id]
            # Every row belongs to one slice, so every output row is written: no NaN fill.
            outs = {o: np.empty(bars.num_rows) for o in node.op.outputs}
            inputs = {
                role: column(self.graph.node(k.node_id).column(k.output)) for role, k in node.inputs
            }
            for sym, s, e in slices:
                state, result = kernel.step(
                    self._state(node.id, sym), {r: v[s:e] for r, v in inputs.items()}
                )
                self.states[(node.id, sym)] = state
                for o in node.op.outputs:
                    if whole:
                        outs[o] = np.asarray(result[o], dtype=np.float64)  # one key: no copy
                    else:
                        outs[o][s:e] = result[o]
            for o, values in outs.items():
                name = node.column(o)
                arrays[name] = values
                bars = bars.append_column(name, float_array(values))
        if self.sims or self.portfolios:
            self._simulate(bars, slices, column)
        return bars

    def _simulate(self, bars: pa.Table, slices: list[tuple[str, int, int]], column: Any) -> None:
        ts_all = bars.column("ts").cast(pa.int64()).to_numpy()
        jobs: list[Callable[[], None]] = []
        for node in self.sims:
            inputs = {
                role: column(self.graph.node(k.node_id).column(k.output)) for role, k in node.inputs
            }
            jobs.append(partial(self._simulate_node, node, inputs, bars, slices, ts_all))
        for host in self.portfolios:
            for _role, k in host.node.inputs:  # convert columns here, not in the threads
                column(self.graph.node(k.node_id).column(k.output))
            jobs.append(partial(host.feed, bars, column))
        if len(jobs) > 1 and bars.num_rows * len(jobs) >= PARALLEL_MIN_ROWS:
            # The simulation kernels release the GIL (numba nogil): strategies, and
            # sweep cells, run side by side on the machine's cores.
            with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
                list(pool.map(lambda job: job(), jobs))
        else:
            for job in jobs:
                job()

    def _simulate_node(
        self,
        node: Node,
        inputs: dict[str, np.ndarray],
        bars: pa.Table,
        slices: list[tuple[str, int, int]],
        ts_all: np.ndarray,
    ) -> None:
        kernel = self.kernels[node.id]
        assert isinstance(kernel, SimulationKernel)
        name = node.param_dict["name"]
        start = node.param_dict.get("start")
        data_id = next(k.node_id for role, k in node.inputs if role in node.op.data_fields)
        universe = self.universes[data_id]
        ts_col = bars.column("ts")
        for sym, s, e in slices:
            if sym not in universe:
                continue
            cols = {"ts": ts_all[s:e], **{r: v[s:e] for r, v in inputs.items()}}
            # Warm-up bars feed the indicators but decide nothing: no signal before the
            # feed's start, and no equity rows for them.
            first = 0 if start is None else int(np.searchsorted(cols["ts"], start, side="left"))
            if first:
                cols["signal"] = np.where(np.arange(e - s) < first, np.nan, cols["signal"])
            state, rows, events = kernel.step_events(self._state(node.id, sym), cols)
            self.states[(node.id, sym)] = state
            self.sim_output.add_events(name, sym, events)
            if not self.per_bar:
                continue
            n = e - s - first
            self.sim_output.add_equity(
                name,
                sym,
                pa.table(
                    {
                        **_key_columns(name, sym, n),
                        "ts": ts_col.slice(s + first, n),
                        "cash": rows["cash"][first:],
                        "position": rows["position"][first:],
                        "equity": rows["equity"][first:],
                    },
                    schema=EQUITY_SCHEMA,
                ),
            )
            close = inputs["close"][s + first : e]
            position = rows["position"][first:]
            self.sim_output.add_positions(
                name,
                sym,
                pa.table(
                    {
                        **_key_columns(name, sym, n),
                        "ts": ts_col.slice(s + first, n),
                        "position": position,
                        "price": close,
                        "value": position * close,
                        "currency": pa.nulls(n, pa.string()),
                    },
                    schema=POSITION_SCHEMA,
                ),
            )

    def finish(self) -> SimOutput:
        """End of input: let simulations emit what is still pending."""
        for host in self.portfolios:
            host.finish()
            self.sim_output.add_portfolio(host)
        for node in self.sims:
            kernel = self.kernels[node.id]
            assert isinstance(kernel, SimulationKernel)
            for (node_id, sym), state in sorted(self.states.items()):
                if node_id == node.id:
                    self.sim_output.add_events(node.param_dict["name"], sym, kernel.finish(state))
        return self.sim_output


def _key_columns(strategy: str, symbol: str, n: int) -> dict[str, pa.Array]:
    """The ``strategy`` and ``symbol`` columns of ``n`` rows of one key."""
    return {
        "strategy": constant_strings(strategy, n),
        "symbol": constant_strings(symbol, n),
    }


def time_ordered_chunks(bars: pa.Table, rows: int) -> Iterable[pa.Table]:
    """Replay ``bars`` as a stream: micro-batches of ``rows`` rows in event-time order across keys,
    each ordered by (symbol, ts) for the runner."""
    order = pc.sort_indices(bars, sort_keys=[("ts", "ascending"), ("symbol", "ascending")])
    stream = bars.take(order)
    for start in range(0, stream.num_rows, rows):
        chunk = stream.slice(start, rows)
        yield chunk.sort_by([("symbol", "ascending"), ("ts", "ascending")])
