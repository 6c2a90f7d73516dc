"""The builder: registers data, indicators and strategies as nodes of a DAG.

The builder never executes anything; :meth:`Cerebro.run` compiles the graph to
a plan for a backend and mode, and the backend runs it.
"""

from __future__ import annotations

import os
import sys
from typing import Any

import pyarrow as pa

from .backends import get_backend
from .backends.base import MODES, Backend
from .cache import CacheMiss, FactorCache
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
from .io.feeds import BAR_SCHEMA, Feed, sort_bars
from .ops.base import INDICATOR_KINDS, Op, OpKind
from .ops.source import Data
from .ops.strategy import SignalStrategy
from .result import Result

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

    # -- building --------------------------------------------------------
    def add_data(self, feed: Feed) -> Ref:
        """Register a feed; index the returned ref by field (``data["close"]``)."""
        if not isinstance(feed, Feed):
            raise InvalidInputError(
                f"add_data expects a feed such as sb.feeds.from_pandas(df), got {type(feed).__name__}"
            )
        node = Node.build(Data, {}, {"feed": feed.describe(), "timeframe": None}, {}, _call_site())
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
        node = Node.build(op, bound, op.validate(params, where), input_labels, site)
        return Ref(self.graph.add(node), owner=id(self))

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
        data_nodes = [n for n in self.graph.ancestors(signal.id) if n.kind is OpKind.SOURCE]
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
        return self._plan(get_backend(backend, **options), mode)

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
                computed = [n for n in self.graph.of_kind(*INDICATOR_KINDS) if n.id not in cached]
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
            return tables[0], universes
        bars = pa.concat_tables([t.select(BAR_SCHEMA.names) for t in tables])
        return sort_bars(bars), universes

    def indicator_columns(self) -> list[str]:
        """Every indicator output column, in the graph's deterministic topological order."""
        return [n.column(o) for n in self.graph.of_kind(*INDICATOR_KINDS) for o in n.op.outputs]

    def canonical_factors(self, table: pa.Table) -> pa.Table:
        """``table`` with bar columns first, then indicator columns in graph order (engine-independent)."""
        indicators = self.indicator_columns()
        bars = [c for c in table.column_names if c not in set(indicators)]
        return table.select([*bars, *indicators])
