"""The builder: registers data, indicators and strategies as nodes of a DAG.

The builder never executes anything; :meth:`Cerebro.run` compiles the graph to
a plan for a backend and mode, and the backend runs it.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from .backends import get_backend
from .backends.base import MODES, Backend
from .cache import CacheMiss, FactorCache
from .causality import CausalityReport, check_causality
from .compile.plan import Plan, build_plan
from .errors import (
    BackendError,
    DataError,
    GraphError,
    InvalidInputError,
    InvalidParameterError,
    did_you_mean,
)
from .graph import ColumnKey, Graph, Node, Ref
from .graph.frames import BASE, frame_of
from .io.feeds import BAR_SCHEMA, TS_TYPE, Feed, sort_bars
from .io.timeframes import Timeframe
from .ops.base import INDICATOR_KINDS, Op, OpKind
from .ops.frames import AsOf, Resample
from .ops.source import Data
from .ops.strategy import SignalStrategy
from .result import Result
from .sweep import Cell, cells, expand, swept_names

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))


def _call_site() -> str:
    """'file.py:12', the first frame outside streambt: where the user declared the node."""
    # Walk raw frames: inspect.stack() reads source files and costs milliseconds.
    frame = sys._getframe(1)
    while frame is not None:
        filename = frame.f_code.co_filename
        if not os.path.abspath(filename).startswith(_PACKAGE_DIR):
            return f"{os.path.basename(filename)}:{frame.f_lineno}"
        frame = frame.f_back  # type: ignore[assignment]
    return ""


def _micros(ts: Any) -> int | None:
    """A feed's start as microseconds since the epoch (None: trade from the first bar)."""
    return None if ts is None else int(pd.Timestamp(ts).value // 1000)


class Cerebro:
    """Builds a strategy graph and runs it on a backend.

    Parameters
    ----------
    cash : starting cash of each strategy (per symbol it trades, in v1)
    commission : fraction of traded value charged per fill, e.g. 0.001 = 0.1 %
    periods_per_year : bars per year for annualized metrics; inferred from the data when None

    Examples
    --------
    >>> import streambt as sb
    >>> cb = sb.Cerebro(cash=10_000, commission=0.001)
    >>> data = cb.add_data(sb.feeds.synthetic("DEMO", bars=300))
    >>> fast = cb.add_indicator(sb.ind.sma, data["close"], window=10)
    >>> slow = cb.add_indicator(sb.ind.sma, data["close"], window=30)
    >>> pulse = cb.add_indicator(sb.sig.cross, fast, slow)
    >>> strat = cb.add_strat(pulse, sb.alloc.all_in(long_only=True), name="sma_cross")
    >>> res = cb.run()
    >>> res.trades.num_rows > 0
    True
    """

    def __init__(
        self, cash: float = 10_000.0, commission: float = 0.0, periods_per_year: float | None = None
    ) -> None:
        if isinstance(cash, bool) or not isinstance(cash, int | float) or not cash > 0:
            raise InvalidParameterError(
                f"Cerebro(cash={cash!r}): cash must be a positive number, e.g. cash=10_000"
            )
        if (
            isinstance(commission, bool)
            or not isinstance(commission, int | float)
            or not 0 <= commission < 1
        ):
            raise InvalidParameterError(
                f"Cerebro(commission={commission!r}): commission is a fraction of traded value in [0, 1), e.g. 0.001 for 0.1 %"
            )
        if periods_per_year is not None and not (
            isinstance(periods_per_year, int | float) and periods_per_year > 0
        ):
            raise InvalidParameterError(
                f"Cerebro(periods_per_year={periods_per_year!r}): pass a positive number (252 for daily stock bars) or None to infer it"
            )
        self.cash = float(cash)
        self.commission = float(commission)
        self.periods_per_year = None if periods_per_year is None else float(periods_per_year)
        self.graph = Graph()
        self._feeds: dict[str, Feed] = {}
        self._strategies: dict[str, str] = {}
        self._until: Any = None
        self._grid: dict[str, list[Any]] = {}

    # -- building --------------------------------------------------------
    def add_data(self, feed: Feed, timeframe: str | None = None) -> Ref:
        """Register a feed; index the returned ref by field (``data["close"]``).

        ``timeframe`` is the bars' interval ("1min", "1h", "1d"); it is needed to
        resample them (it decides when a higher-timeframe bar closes).
        """
        if not isinstance(feed, Feed):
            raise InvalidInputError(
                f"add_data expects a feed such as sb.feeds.from_pandas(df), got {type(feed).__name__}"
            )
        tf = None if timeframe is None else Timeframe.parse(timeframe).key()
        node = Node.build(Data, {}, {"feed": feed.describe(), "timeframe": tf}, {}, _call_site())
        node = self.graph.add(node)
        self._feeds.setdefault(node.id, feed)
        return Ref(node, owner=id(self))

    def add_indicator(self, op: type[Op], *inputs: Ref, **params: Any) -> Ref:
        """Add an indicator or signal node; an equal node already in the graph is returned instead.

        Examples
        --------
        >>> fast = cb.add_indicator(sb.ind.sma, data["close"], window=10)  # doctest: +SKIP
        """
        if not (isinstance(op, type) and issubclass(op, Op)) or op.kind in (
            OpKind.SOURCE,
            OpKind.SIMULATION,
        ):
            raise InvalidInputError(
                f"add_indicator expects an indicator or signal such as sb.ind.sma or sb.sig.cross, got {op!r}"
            )
        labels = [i.label() if isinstance(i, Ref) else repr(i) for i in inputs]
        call = f"{op.short}({', '.join([*labels, *(f'{k}={v!r}' for k, v in params.items())])})"
        site = _call_site()
        where = f"{call} at {site}" if site else call
        bound, input_labels = self._bind(op, inputs, where)
        if not op.data_fields:
            bound = self._align(bound, where)
        node = Node.build(op, bound, op.validate(params, where), input_labels, site)
        return Ref(self.graph.add(node), owner=id(self))

    def resample(self, data: Ref, timeframe: str, tz: str = "UTC") -> Ref:
        """Bars of a higher timeframe built from ``data``'s bars; index by field like data.

        Indicators on the result are usable by nodes and strategies on ``data``'s
        timeframe: each row sees a higher-timeframe value only once its bar has
        closed (a 1h bar labelled 10:00 is first seen by the 1min bar labelled 10:59).
        ``tz`` sets where daily bars start (the exchange's midnight).

        Examples
        --------
        >>> data = cb.add_data(feed, timeframe="1min")          # doctest: +SKIP
        >>> hourly = cb.resample(data, "1h")                    # doctest: +SKIP
        >>> trend = cb.add_indicator(sb.ind.sma, hourly["close"], window=20)  # doctest: +SKIP
        """
        where = f"resample({data!r}, {timeframe!r})"
        if not isinstance(data, Ref) or data.node.op is not Data or data.output is not None:
            raise InvalidInputError(
                f"{where}: resample takes a data ref from cb.add_data, got {data!r}"
            )
        self._check_owner(data, where)
        base = data.node.param_dict["timeframe"]
        if base is None:
            raise GraphError(
                f"{where}: the bars' own interval is unknown; declare it with "
                "cb.add_data(feed, timeframe='1min') so a higher-timeframe bar's close is known"
            )
        target = Timeframe.parse(timeframe, tz)
        if target.micros <= Timeframe.from_key(base).micros:
            raise InvalidParameterError(
                f"{where}: {timeframe!r} is not coarser than the bars' {base!r}; resample to a longer interval"
            )
        inputs = {f: ColumnKey(data.id, f) for f in Resample.data_fields}
        params = {"timeframe": target.key(), "base": base}
        node = Node.build(Resample, inputs, params, {}, _call_site())
        return Ref(self.graph.add(node), owner=id(self))

    def _align(self, bound: dict[str, ColumnKey], where: str) -> dict[str, ColumnKey]:
        """Put inputs from higher timeframes on the finest input's frame (AsOf nodes)."""
        frames = {
            role: frame_of(self.graph, self.graph.node(k.node_id)) for role, k in bound.items()
        }
        if len(set(frames.values())) <= 1:
            return bound
        target = min(set(frames.values()), key=lambda f: self._frame_timeframe(f, bound).micros)
        return {
            role: key
            if frames[role] == target
            else self._asof(key, frames[role], target, bound, where)
            for role, key in bound.items()
        }

    def _frame_timeframe(self, frame: str, bound: Mapping[str, ColumnKey]) -> Timeframe:
        if frame != BASE:
            return Timeframe.from_key(self.graph.node(frame).param_dict["timeframe"])
        data = self._base_data(bound)
        tf = data.param_dict["timeframe"]
        if tf is None:
            raise GraphError(
                "mixing timeframes needs the base bars' interval: cb.add_data(feed, timeframe='1min')"
            )
        return Timeframe.from_key(tf)

    def _base_data(self, bound: Mapping[str, ColumnKey]) -> Node:
        for key in bound.values():
            for n in [self.graph.node(key.node_id), *self.graph.ancestors(key.node_id)]:
                if n.op is Data:
                    return n
        raise GraphError("no data feed among the inputs")

    def _asof(
        self, key: ColumnKey, source: str, target: str, bound: Mapping[str, ColumnKey], where: str
    ) -> ColumnKey:
        src_tf, dst_tf = self._frame_timeframe(source, bound), self._frame_timeframe(target, bound)
        if src_tf.micros < dst_tf.micros:
            raise GraphError(f"{where}: cannot place a {src_tf} column on {dst_tf} rows")
        anchor = ColumnKey(target if target != BASE else self._base_data(bound).id, "close")
        label = self.graph.node(key.node_id).short_label()
        node = Node.build(
            AsOf,
            {"x": key, "anchor": anchor},
            {"source": src_tf.key(), "target": dst_tf.key()},
            {"x": label, "anchor": "close"},
            _call_site(),
        )
        node = self.graph.add(node)
        return ColumnKey(node.id, "value")

    def add_strat(self, signal: Ref, allocation: Any, name: str | None = None) -> Ref:
        """Trade ``signal`` with ``allocation`` (from ``sb.alloc``): the pulse + allocation style.

        Examples
        --------
        >>> cb.add_strat(pulse, sb.alloc.all_in(long_only=True), name="sma_cross")  # doctest: +SKIP
        """
        where = f"add_strat({signal!r}, name={name!r})"
        if not isinstance(signal, Ref):
            raise InvalidInputError(
                f"{where}: signal must be a ref from add_indicator, got {type(signal).__name__}"
            )
        self._check_owner(signal, where)
        key = signal.key(where)
        if not hasattr(allocation, "to_params"):
            raise InvalidInputError(
                f"{where}: allocation must come from sb.alloc (all_in, fixed, target_percent), got {allocation!r}"
            )
        if frame_of(self.graph, signal.node) != BASE:
            key = self._align({"signal": key, "base": self._base_key(signal)}, where)["signal"]
        data_nodes = [n for n in self.graph.ancestors(key.node_id) if n.op is Data]
        if len(data_nodes) != 1:
            raise GraphError(
                f"{where}: the signal must derive from exactly one feed, it derives from {len(data_nodes)}"
            )
        data = data_nodes[0]
        name = name if name is not None else signal.node.label
        params = SignalStrategy.validate(
            {
                "name": name,
                "cash": self.cash,
                "commission": self.commission,
                "allocation": allocation.to_params(),
                "start": _micros(self._feeds[data.id].start),
            },
            where,
        )
        inputs = {"signal": key, **{f: ColumnKey(data.id, f) for f in SignalStrategy.data_fields}}
        node = Node.build(SignalStrategy, inputs, params, {"signal": signal.label()}, _call_site())
        previous = self._strategies.get(name)
        if previous is not None and previous != node.id:
            raise GraphError(
                f"{where}: a different strategy is already named {name!r}; pick another name"
            )
        node = self.graph.add(node)
        self._strategies[name] = node.id
        return Ref(node, owner=id(self))

    def _base_key(self, ref: Ref) -> ColumnKey:
        return ColumnKey(self._base_data({"x": ref.key("base")}).id, "close")

    def _check_owner(self, ref: Ref, where: str) -> None:
        if ref.owner != id(self) or ref.node.id not in self.graph:
            raise InvalidInputError(
                f"{where}: {ref!r} belongs to another Cerebro; build every node on one Cerebro"
            )

    def _bind(
        self, op: type[Op], inputs: tuple[Any, ...], where: str
    ) -> tuple[dict[str, ColumnKey], dict[str, str]]:
        bound: dict[str, ColumnKey] = {}
        labels: dict[str, str] = {}
        roles = list(op.inputs)
        if op.data_fields:
            if (
                len(inputs) != 1
                or not isinstance(inputs[0], Ref)
                or inputs[0].node.kind is not OpKind.SOURCE
                or inputs[0].output is not None
            ):
                raise InvalidInputError(
                    f"{where}: {op.short} reads {', '.join(op.data_fields)}; pass the data ref, e.g. data"
                )
            data = inputs[0]
            self._check_owner(data, where)
            for f in op.data_fields:
                bound[f] = ColumnKey(data.id, f)
                labels[f] = f
            return bound, labels
        if len(inputs) != len(roles):
            raise InvalidInputError(
                f"{where}: {op.short} takes {len(roles)} input(s) ({', '.join(roles)}), got {len(inputs)}"
            )
        for role, value in zip(roles, inputs, strict=True):
            if not isinstance(value, Ref):
                raise InvalidInputError(
                    f"{where}: input {role!r} must be a column ref such as data['close'] or another indicator, "
                    f"got {type(value).__name__} {value!r}"
                )
            self._check_owner(value, where)
            bound[role] = value.key(where)
            labels[role] = value.label()
        return bound, labels

    # -- compiling and running --------------------------------------------
    def plan(self, backend: str = "duckdb", mode: str = "batch", **options: Any) -> Plan:
        """The plan ``backend`` would run in ``mode``, with the reason for each placement."""
        with self._concrete():
            return self._plan(get_backend(backend, **options), mode)

    def sweep(self, grid: Mapping[str, Any]) -> None:
        """Run every cell of ``grid`` (parameters declared with ``sb.param``) in one graph.

        Each cell becomes its own strategy, named ``name[fast=10,slow=50]``;
        indicators shared by cells are computed once. ``res.ranking()`` ranks the
        cells by a metric.

        Examples
        --------
        >>> fast = cb.add_indicator(sb.ind.sma, data["close"], window=sb.param("fast"))  # doctest: +SKIP
        >>> cb.sweep({"fast": range(5, 50, 5), "slow": [50, 100, 200]})                  # doctest: +SKIP
        >>> cb.run().ranking("sharpe")                                                   # doctest: +SKIP
        """
        if not isinstance(grid, Mapping):
            raise InvalidInputError(
                f"sweep expects a mapping of parameter name -> values, got {type(grid).__name__}"
            )
        grid = {name: list(values) for name, values in grid.items()}
        cells(grid, swept_names(self.graph))  # validate the names and the size now
        self._grid = grid

    @contextmanager
    def _concrete(self) -> Iterator[dict[str, Cell]]:
        """While running: the graph with every sweep cell expanded into concrete nodes."""
        declared = swept_names(self.graph)
        if not declared:
            yield {}
            return
        template, strategies = self.graph, self._strategies
        self.graph, owners = expand(template, cells(self._grid, declared))
        self._strategies = {
            n.param_dict["name"]: n.id for n in self.graph.of_kind(OpKind.SIMULATION)
        }
        try:
            yield owners
        finally:
            self.graph, self._strategies = template, strategies

    def _plan(self, engine: Backend, mode: str, cache: FactorCache | None = None) -> Plan:
        if mode not in MODES:
            raise BackendError(
                f"Unknown mode {mode!r}.{did_you_mean(str(mode), MODES)} Modes: {', '.join(MODES)}"
            )
        engine.check_mode(mode)
        return build_plan(self.graph, engine, mode, cache)

    def explain(
        self, backend: str = "duckdb", mode: str = "batch", show: bool = True, **options: Any
    ) -> str:
        """Print (and return) the graph and the plan with the reason for every placement."""
        with self._concrete():
            return self._explain(backend, mode, show, **options)

    def _explain(self, backend: str, mode: str, show: bool, **options: Any) -> str:
        lines = [f"Graph: {len(self.graph)} nodes"]
        for node in self.graph.nodes():
            ins = ", ".join(
                f"{role}={self.graph.node(k.node_id).column(k.output)}" for role, k in node.inputs
            )
            users = self.graph.nx.out_degree(node.id)
            shared = f"  [computed once, used by {users} nodes]" if users > 1 else ""
            lines.append(
                f"  {node.label:<44} {node.describe()}" + (f" <- {ins}" if ins else "") + shared
            )
        text = "\n".join([*lines, self.plan(backend, mode, **options).explain()])
        if show:
            print(text)
        return text

    def run(
        self,
        backend: str = "duckdb",
        mode: str = "batch",
        cache: str | os.PathLike[str] | None = None,
        **options: Any,
    ) -> Result:
        """Compile for ``backend`` and ``mode`` and run; returns a :class:`Result`.

        ``cache`` names a folder for the factor cache: indicator columns
        computed before on the same data are loaded instead of recomputed
        (see :mod:`streambt.cache`). ``options`` configure the backend, e.g.
        ``micro_batch=100`` for the embedded stream mode or
        ``placement="kernels"`` to run every node of a DuckDB batch as a kernel.

        Examples
        --------
        >>> res = cb.run()                                  # doctest: +SKIP
        >>> res = cb.run(mode="stream", micro_batch=100)    # doctest: +SKIP
        """
        if not self._feeds:
            raise GraphError("nothing to run: add data with cb.add_data(feed) first")
        engine = get_backend(backend, **options)
        factor_cache = FactorCache(cache, self._feeds) if cache is not None else None
        with self._concrete() as owners:
            result = self._run(engine, mode, factor_cache)
        result.cells = {name: cell.as_dict() for name, cell in owners.items()}
        return result

    def _run(self, engine: Backend, mode: str, factor_cache: FactorCache | None) -> Result:
        for _ in range(len(self.graph) + 1):
            plan = self._plan(engine, mode, factor_cache)
            try:
                result = engine.run(self, plan)
            except CacheMiss as miss:
                assert factor_cache is not None
                factor_cache.discard(miss)
                continue
            if factor_cache is not None:
                cached = {n.id for n in plan.cached}
                computed = [
                    n
                    for n in self.graph.of_kind(*INDICATOR_KINDS)
                    if n.id not in cached and frame_of(self.graph, n) == BASE
                ]
                factor_cache.store(computed, result.factors)
            return result
        raise AssertionError("unreachable: every cache miss removes one cached node")

    def load_bars(self) -> tuple[pa.Table, dict[str, frozenset[str]]]:
        """Load every feed, union them, and map each data node to its symbols."""
        tables: list[pa.Table] = []
        universes: dict[str, frozenset[str]] = {}
        seen: dict[str, str] = {}
        for node_id in sorted(self._feeds):
            feed = self._feeds[node_id]
            table = feed.load()
            symbols = frozenset(table.column("symbol").unique().to_pylist())
            for s in symbols:
                if s in seen:
                    raise DataError(
                        f"symbol {s!r} comes from two feeds ({seen[s]} and {feed.name}); give each feed its own symbols"
                    )
                seen[s] = feed.name
            universes[node_id] = symbols
            tables.append(table)
        if len(tables) == 1:
            bars = tables[0]
        else:
            bars = sort_bars(pa.concat_tables([t.select(BAR_SCHEMA.names) for t in tables]))
        if self._until is not None:
            # A prefix of the data, as a causality check replays it.
            bars = bars.filter(pc.less_equal(bars.column("ts"), pa.scalar(self._until, TS_TYPE)))
        return bars, universes

    def check_causality(
        self, samples: int = 4, backend: str = "duckdb", mode: str = "batch", **options: Any
    ) -> CausalityReport:
        """Check that no result looks ahead: a run on the data up to ``t`` must equal the full run up to ``t``.

        Runs the graph on the whole data, then on ``samples`` prefixes, and
        compares every factor column, order, fill, trade and equity row up to
        each cut. A graph that peeks at the future fails, naming the first node
        (in dependency order) whose values differ.

        Examples
        --------
        >>> report = cb.check_causality()        # doctest: +SKIP
        >>> report.ok, report.leaks              # doctest: +SKIP
        (True, [])
        """
        return check_causality(self, samples, backend, mode, **options)

    def indicator_columns(self, frame: str = BASE) -> list[str]:
        """The indicator output columns of ``frame``, in the graph's deterministic topological order."""
        return [
            n.column(o)
            for n in self.graph.of_kind(*INDICATOR_KINDS, OpKind.ALIGN)
            if frame_of(self.graph, n) == frame
            for o in n.op.outputs
        ]

    def canonical_factors(self, table: pa.Table, frame: str = BASE) -> pa.Table:
        """``table`` with bar columns first, then indicator columns in graph order (engine-independent)."""
        indicators = self.indicator_columns(frame)
        bars = [c for c in table.column_names if c not in set(indicators)]
        return table.select([*bars, *indicators])
