"""Hosts one Portfolio node: rows of all its symbols in (ts, symbol) order through one kernel.

:class:`PortfolioHost` is what :class:`~streambt.backends.kernel_host.KernelRunner`
runs for a :class:`~streambt.ops.portfolio.Portfolio` node, batch (one feed of
every bar) or stream (micro-batch after micro-batch, in event time): both
paths go through :meth:`PortfolioHost.feed`, which is why they agree.

Tables it writes (docs/broker.md, "Results"):

- ``equity``: one row per strategy and per timestamp (``symbol = "*"``) plus
  the portfolio's own rows (``strategy`` = the portfolio's name); ``position``
  there is the gross market value held (sum of ``|units| x close``).
- ``positions``: units per bar per strategy and symbol, and the portfolio's
  net units per symbol (``strategy`` = the portfolio's name).
- ``orders`` (with ``currency``), ``order_events``, ``fills``, ``trades``.

A timestamp's equity row is written once every symbol's bar at that time has
been seen: in a stream, the last timestamp of a micro-batch waits for the next
one (or the end).

An engine that keeps the host in its own state between micro-batches (Spark's
stateful operator) takes what each batch wrote with :meth:`PortfolioHost.drain`,
what the end of the data would add so far with :meth:`PortfolioHost.pending_tables`,
and stores the host with :meth:`PortfolioHost.dumps` / :meth:`PortfolioHost.loads`.
"""

from __future__ import annotations

import pickle
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..errors import InvalidParameterError, did_you_mean
from ..graph import Graph, Node
from ..io.resample import run_ends
from ..io.schema import constant_strings, ts_array
from ..ops.portfolio import ALL_SYMBOLS, HOST_KEYS, STRATEGY_CLASSES
from ..sim.events import PORTFOLIO_EVENT_COLUMNS
from ..sim.portfolio import BookRows, PortfolioKernel
from ..sim.strategy import EventStrategyRunner
from .event_tables import (
    EQUITY_SCHEMA,
    PORTFOLIO_SCHEMAS,
    POSITION_SCHEMA,
    portfolio_event_table,
)

Column = Callable[[str], np.ndarray]


class PortfolioHost:
    """One Portfolio node's kernel, its state, and the tables it has written so far."""

    def __init__(self, node: Node, graph: Graph, universes: Mapping[str, frozenset[str]]) -> None:
        params = node.param_dict
        self.node, self.graph = node, graph
        self.name: str = params["name"]
        entries = params["strategies"]
        self.symbols = sorted(set().union(*(universes[e["data"]] for e in entries)))
        strategies = []
        for e in entries:
            fields = {k: v for k, v in e.items() if k not in HOST_KEYS}
            universe = sorted(universes[e["data"]])
            wanted = fields.get("symbols")
            if wanted is None:
                fields["symbols"] = universe
            else:
                unknown = [s for s in wanted if s not in universe]
                if unknown:
                    raise InvalidParameterError(
                        f"strategy {e['name']!r}: symbols {unknown} are not in its feed, which "
                        f"has {universe}.{did_you_mean(str(unknown[0]), universe)}"
                    )
            strategies.append(fields)
        self.kernel = PortfolioKernel(
            symbols=self.symbols,
            strategies=strategies,
            portfolio=params["portfolio"],
            instruments=params["instruments"],
            broker=params["broker"],
        )
        self.strategy_names = [e["name"] for e in entries]
        self.currencies = [i.currency for i in self.kernel.instrument_specs]
        events = {
            e["name"]: STRATEGY_CLASSES[e["strategy_class"]](**e["kwargs"])
            for e in entries
            if e.get("style") == "event"
        }
        self.runner: PortfolioKernel | EventStrategyRunner = (
            EventStrategyRunner(self.kernel, events) if events else self.kernel
        )
        # A symbol's feed start: its warm-up bars feed indicators, never the broker.
        starts: dict[str, int] = {}
        for e in entries:
            for sym in universes[e["data"]]:
                if e["start"] is not None:
                    starts[sym] = e["start"]
        self.starts = np.array([starts.get(s, np.iinfo(np.int64).min) for s in self.symbols])
        self.trades_symbol = self.kernel.P[1].astype(bool)  # [strategy, symbol]
        self.state: Any = None
        self.pending: dict[str, Any] | None = None  # the last timestamp's row, not yet final
        self._equity: list[dict[str, np.ndarray]] = []  # final timestamps' rows, in order
        self._positions: list[tuple[np.ndarray, ...]] = []  # (ts, symbol, close, units[K])
        #: each step's event columns by table, decoded into Arrow when read (event_tables)
        self._events: dict[str, list[Mapping[str, np.ndarray]]] = {
            t: [] for t in PORTFOLIO_EVENT_COLUMNS
        }

    # -- feeding ------------------------------------------------------------------------
    def inputs(self, column: Column) -> dict[str, np.ndarray]:
        """The node's input columns (by kernel name) over the rows being fed."""
        out: dict[str, np.ndarray] = {}
        for role, key in self.node.inputs:
            if role in self.node.op.data_fields:
                continue
            name = self.graph.node(key.node_id).column(key.output)
            if role.startswith("col_"):
                role = role.split("_", 2)[2]  # col_<k>_<name>: the strategy reads bar.<name>
            out[role] = column(name)
        return out

    def feed(self, bars: pa.Table, column: Column) -> None:
        """Consume ``bars`` (any order; only this portfolio's symbols are used)."""
        if bars.num_rows == 0:
            return
        code, one_symbol = self._codes(bars.column("symbol"))
        ts = bars.column("ts").cast(pa.int64()).to_numpy()
        if one_symbol and code[0] >= 0 and self.starts[code[0]] <= ts.min():
            # One symbol, all of it: rows ordered by (symbol, ts) are already in time order.
            order: np.ndarray | slice = slice(None)
        else:
            start = np.where(code >= 0, self.starts[np.maximum(code, 0)], 0)
            rows = np.flatnonzero((code >= 0) & (ts >= start))
            if rows.size == 0:
                return
            order = rows[np.lexsort((code[rows], ts[rows]))]
        cols: dict[str, np.ndarray] = {"ts": ts[order], "symbol": code[order]}
        for f in ("open", "high", "low", "close", "volume"):
            cols[f] = column(f)[order]
        for name, values in self.inputs(column).items():
            cols[name] = values[order]
        if self.state is None:
            self.state = self.runner.init()
        self.state, out, events = self.runner.step_book(self.state, cols)
        self._write_rows(cols, out)
        self._write_events(events)

    def _codes(self, symbols: pa.ChunkedArray) -> tuple[np.ndarray, bool]:
        """Each row's symbol code (-1: not traded here), and whether all rows share one symbol."""
        column = symbols.chunk(0) if symbols.num_chunks == 1 else symbols
        n = len(column)
        ends = run_ends(column, limit=n // 16 + 16)  # rows ordered by symbol: a few runs
        if ends is None:
            codes = pc.index_in(column, value_set=pa.array(self.symbols))
            code = np.asarray(codes.fill_null(-1).to_numpy(zero_copy_only=False), dtype=np.int64)
            return code, bool((code == code[0]).all())
        index = {s: i for i, s in enumerate(self.symbols)}
        names = column.take(pa.array(ends - 1)).to_pylist()
        run_codes = np.array([index.get(x, -1) for x in names], dtype=np.int64)
        if len(ends) == 1:  # one symbol (zeros are mapped, not written, row by row)
            first = run_codes[0]
            code = np.zeros(n, np.int64) if first == 0 else np.full(n, first, np.int64)
            return code, True
        lengths = np.diff(ends, prepend=0)
        return np.repeat(run_codes, lengths), len(set(names)) == 1

    def finish(self) -> None:
        """End of input: the last timestamp's equity row and the orders still working."""
        if self.pending is not None:
            self._equity.append(self.pending)
            self.pending = None
        if self.state is not None:
            self._write_events(self.runner.finish(self.state))

    # -- tables ---------------------------------------------------------------------------
    def _write_rows(self, cols: Mapping[str, np.ndarray], out: BookRows) -> None:
        group = {"ts": out.ts, "cash": out.cash, "equity": out.equity, "gross": out.gross}
        if self.pending is not None and self.pending["ts"][0] != out.ts[0]:
            self._equity.append(self.pending)
        self.pending = {k: v[..., -1:] for k, v in group.items()}
        self._equity.append({k: v[..., :-1] for k, v in group.items()})
        self._positions.append((cols["ts"], cols["symbol"], cols["close"], out.units))

    def equity_tables(self) -> list[tuple[str, pa.Table]]:
        """Equity tables by strategy name, each ordered by ts (call after :meth:`finish`)."""
        return self._equity_of(self._equity)

    def _equity_of(self, groups: list[dict[str, np.ndarray]]) -> list[tuple[str, pa.Table]]:
        names = [*self.strategy_names, self.name]
        equity: list[tuple[str, pa.Table]] = []
        if not groups:
            return equity
        ts = ts_array(_joined([g["ts"] for g in groups]))
        fields = {f: _joined([g[f] for g in groups]) for f in ("cash", "equity", "gross")}
        n = len(ts)
        all_symbols = constant_strings(ALL_SYMBOLS, n)
        for k, name in enumerate(names):
            values = {
                f: (v[k] if k < len(self.strategy_names) else _total(v)) for f, v in fields.items()
            }
            equity.append(
                (
                    name,
                    pa.table(
                        {
                            "strategy": constant_strings(name, n),
                            "symbol": all_symbols,
                            "ts": ts,
                            "cash": values["cash"],
                            "position": values["gross"],
                            "equity": values["equity"],
                        },
                        schema=EQUITY_SCHEMA,
                    ),
                )
            )
        return equity

    def position_tables(self) -> list[tuple[str, pa.Table]]:
        """Position tables by strategy name, each ordered by (symbol, ts), from a numeric sort."""
        names = [*self.strategy_names, self.name]
        positions: list[tuple[str, pa.Table]] = []
        if not self._positions:
            return positions
        p_ts = np.concatenate([p[0] for p in self._positions])
        p_sym = np.concatenate([p[1] for p in self._positions])
        p_close = np.concatenate([p[2] for p in self._positions])
        p_units = np.concatenate([p[3] for p in self._positions], axis=1)
        symbols = pa.array(self.symbols, pa.string())
        currencies = pa.array(self.currencies, pa.string())
        # Rows arrive in (ts, symbol) order, so a stable sort by symbol alone gives (symbol, ts).
        narrow = np.int16 if len(self.symbols) < 2**15 else np.int64  # int16 sorts by radix
        by_symbol = np.argsort(p_sym.astype(narrow), kind="stable")
        for k, name in enumerate(names):
            if k < len(self.strategy_names):
                rows = by_symbol[self.trades_symbol[k, p_sym[by_symbol]]]
                units = p_units[k]
            else:  # the portfolio: net units over strategies
                rows = by_symbol
                units = p_units.sum(axis=0)
            u, c = units[rows], p_close[rows]
            positions.append(
                (
                    name,
                    pa.table(
                        {
                            "strategy": constant_strings(name, len(rows)),
                            "symbol": symbols.take(pa.array(p_sym[rows])),
                            "ts": ts_array(p_ts[rows]),
                            "position": u,
                            "price": c,
                            "value": u * c,
                            "currency": currencies.take(pa.array(p_sym[rows])),
                        },
                        schema=POSITION_SCHEMA,
                    ),
                )
            )
        return positions

    def _write_events(self, events: Mapping[str, Mapping[str, np.ndarray]]) -> None:
        for table, cols in events.items():
            if len(next(iter(cols.values()))):
                self._events[table].append(cols)

    def event_tables(self) -> dict[str, Callable[[], pa.Table]]:
        """Each event table written so far, by name, as a callable that decodes it: a run
        whose caller never reads (say) the order history never turns it into Arrow."""
        return {
            name: partial(self._decoded, name, list(parts)) for name, parts in self._events.items()
        }

    def _decoded(self, table: str, parts: Sequence[Mapping[str, np.ndarray]]) -> pa.Table:
        if not parts:
            return PORTFOLIO_SCHEMAS[table].empty_table()
        cols = (
            parts[0]
            if len(parts) == 1
            else {name: np.concatenate([p[name] for p in parts]) for name in parts[0]}
        )
        return portfolio_event_table(
            table, cols, self.strategy_names, self.symbols, self.currencies
        )

    # -- a host kept by an engine between micro-batches ------------------------------------
    def drain(self) -> dict[str, pa.Table]:
        """The rows written since the last drain, by table (equity and positions ordered by
        strategy, the events in the kernel's order), and forget them."""
        out = {
            "equity": _stacked(self.equity_tables(), EQUITY_SCHEMA),
            "positions": _stacked(self.position_tables(), POSITION_SCHEMA),
        }
        for name, build in self.event_tables().items():
            out[name] = build()
        self._equity, self._positions = [], []
        self._events = {t: [] for t in PORTFOLIO_EVENT_COLUMNS}
        return out

    def pending_tables(self) -> dict[str, pa.Table]:
        """What :meth:`finish` would add if the data ended now: the last timestamp's equity
        rows and the orders still working (the host is left as it is)."""
        equity = self._equity_of([self.pending] if self.pending is not None else [])
        # finish() reads the book and changes nothing
        working = [self.kernel.finish(self.state)["orders"]] if self.state is not None else []
        return {
            "equity": _stacked(equity, EQUITY_SCHEMA),
            "orders": self._decoded("orders", working),
        }

    def dumps(self) -> bytes:
        """The host's state between micro-batches (call after :meth:`drain`): the kernel's
        arrays, the pending equity row and the event-style strategies' own attributes."""
        objects = getattr(self.runner, "objects", {})
        blob = {
            "state": self.state,
            "pending": self.pending,
            "objects": {k: vars(obj) for k, obj in objects.items()},
        }
        return pickle.dumps(blob, protocol=5)

    def loads(self, data: bytes) -> None:
        """Restore what :meth:`dumps` stored into this (freshly built) host."""
        blob = pickle.loads(data)
        self.state, self.pending = blob["state"], blob["pending"]
        objects = getattr(self.runner, "objects", {})
        for k, attrs in blob["objects"].items():
            vars(objects[k]).update(attrs)


def _stacked(parts: list[tuple[str, pa.Table]], schema: pa.Schema) -> pa.Table:
    tables = [t for _, t in parts]
    return pa.concat_tables(tables) if tables else schema.empty_table()


def _joined(parts: list[np.ndarray]) -> np.ndarray:
    """``np.concatenate(parts, axis=-1)``, without a copy when the parts are consecutive
    slices of one array along the last axis (a step's rows split off its last timestamp's)."""
    first = parts[0]
    width = sum(p.shape[-1] for p in parts)
    end = first.__array_interface__["data"][0] + first.shape[-1] * first.strides[-1]
    for p in parts[1:]:
        if (
            p.base is not first.base
            or first.base is None
            or p.strides != first.strides
            or p.shape[:-1] != first.shape[:-1]
            or (p.shape[-1] and p.__array_interface__["data"][0] != end)
        ):
            return np.concatenate(parts, axis=-1)
        end += p.shape[-1] * p.strides[-1]
    if len(parts) == 1:
        return first
    return np.lib.stride_tricks.as_strided(
        first, shape=(*first.shape[:-1], width), strides=first.strides, writeable=False
    )


def _total(values: np.ndarray) -> np.ndarray:
    """The sum over strategies (rows) of ``values``: one strategy's own row when that gives the
    same numbers, i.e. no value has its sign bit set (``sum`` turns -0.0 into +0.0)."""
    if len(values) == 1 and not np.signbit(values[0]).any():
        return values[0]
    return values.sum(axis=0)
