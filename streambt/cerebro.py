"""The builder: registers data, indicators and strategies as nodes of a DAG.

The builder never executes anything; :meth:`Cerebro.run` compiles the graph to
a plan for a backend and mode, and the backend runs it.
"""

from __future__ import annotations

import inspect
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
from .compile.portfolio import fold, needs_portfolio
from .errors import (
    BackendError,
    DataError,
    GraphError,
    InvalidInputError,
    InvalidParameterError,
    UnsupportedError,
    did_you_mean,
)
from .graph import ColumnKey, Graph, Node, Ref
from .graph.frames import BASE, frame_of
from .io.feeds import BAR_SCHEMA, TS_TYPE, Feed, sort_bars
from .io.resample import symbol_runs
from .io.timeframes import Timeframe
from .ops.base import INDICATOR_KINDS, Op, OpKind
from .ops.frames import AsOf, Resample
from .ops.portfolio import (
    DEFAULT_NAME,
    EventStrategy,
    Portfolio,
    PulseStrategy,
    plain,
    register_strategy_class,
)
from .ops.source import Data
from .ops.strategy import SignalStrategy
from .result import Result
from .sim import fees as fee_models
from .sim.instruments import instruments_for
from .sim.portfolio import BrokerSpec, PortfolioSpec
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
        self._broker: dict[str, Any] | None = None
        self._portfolio: dict[str, Any] | None = None

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

    def add_strat(
        self,
        signal: Ref,
        allocation: Any,
        name: str | None = None,
        *,
        stop_loss: float | None = None,
        take_profit: float | None = None,
        trailing_stop: float | None = None,
        weight: float | None = None,
        entry: str | None = None,
        entry_offset: float | None = None,
        tif: str | None = None,
        long_only: bool | None = None,
        atr: Ref | None = None,
        symbols: list[str] | None = None,
    ) -> Ref:
        """Trade ``signal`` with ``allocation``: the pulse + allocation style.

        ``allocation`` is an ``sb.alloc`` allocation or an ``sb.sizers`` sizer.
        The keywords use the portfolio broker (``docs/broker.md``): brackets
        placed as real OCO orders when the entry fills (``stop_loss``,
        ``take_profit``, ``trailing_stop`` as fractions of the fill price),
        ``weight`` (share of the portfolio's cash), ``entry`` ("market",
        "limit", "stop") with ``entry_offset``, ``tif`` ("GTC", "DAY"),
        ``atr`` (the ATR ref a volatility-target sizer reads) and ``symbols``
        (a subset of the feed's). Without them, and without ``cb.broker`` /
        ``cb.portfolio`` / ``cb.add_strategy``, each (strategy, symbol) keeps
        its own account (docs/simulator.md).

        Examples
        --------
        >>> cb.add_strat(pulse, sb.alloc.all_in(long_only=True), name="sma_cross")  # doctest: +SKIP
        >>> cb.add_strat(pulse, sb.sizers.risk(0.01), stop_loss=0.02, take_profit=0.04)  # doctest: +SKIP
        """
        where = f"add_strat({signal!r}, name={name!r})"
        if not isinstance(signal, Ref):
            raise InvalidInputError(
                f"{where}: signal must be a ref from add_indicator, got {type(signal).__name__}"
            )
        self._check_owner(signal, where)
        if not hasattr(allocation, "to_params"):
            raise InvalidInputError(
                f"{where}: allocation must come from sb.alloc (all_in, fixed, target_percent) or "
                f"sb.sizers (fixed, percent_equity, all_in, risk, volatility_target), got {allocation!r}"
            )
        options = {
            "stop_loss": stop_loss,
            "take_profit": take_profit,
            "trailing_stop": trailing_stop,
            "weight": weight,
            "entry": entry,
            "entry_offset": entry_offset,
            "tif": tif,
            "long_only": long_only,
            "symbols": None if symbols is None else list(symbols),
        }
        options = {k: v for k, v in options.items() if v is not None}
        sizing = allocation.to_params()
        bound = self._bind_strategy({"signal": signal} | ({"atr": atr} if atr else {}), where)
        data = self._strategy_data(bound, where)
        name = name if name is not None else signal.node.label
        start = _micros(self._feeds[data.id].start)
        if options or atr is not None or "sizer" in sizing:
            op: type[Op] = PulseStrategy
            given = {"name": name, "start": start, "sizer": sizing, **options}
        else:
            op = SignalStrategy
            given = {
                "name": name,
                "cash": self.cash,
                "commission": self.commission,
                "allocation": sizing,
                "start": start,
            }
        params = op.validate(given, where)
        inputs = {**bound, **{f: ColumnKey(data.id, f) for f in op.data_fields}}
        labels = {"signal": signal.label()}
        return self._add_strategy_node(Node.build(op, inputs, params, labels, _call_site()), where)

    def add_strategy(
        self,
        strategy: type,
        data: Ref,
        name: str | None = None,
        *,
        weight: float = 1.0,
        symbols: list[str] | None = None,
        columns: Mapping[str, Ref] | None = None,
        **params: Any,
    ) -> Ref:
        """Run an event-style strategy (a subclass of ``sb.Strategy``) on ``data``'s symbols.

        ``columns`` names indicator refs the strategy reads from its bars
        (``bar.fast``); ``params`` go to the class's constructor. Event
        strategies share the portfolio broker with every other strategy of
        the run (docs/broker.md).

        Examples
        --------
        >>> class Dip(sb.Strategy):                                      # doctest: +SKIP
        ...     def on_bar(self, ctx, bar):
        ...         if ctx.position() == 0 and bar.close < bar.sma:
        ...             ctx.buy(size=10, stop_loss=0.05)
        >>> cb.add_strategy(Dip, data, columns={"sma": sma})              # doctest: +SKIP
        """
        where = f"add_strategy({getattr(strategy, '__name__', strategy)!r}, name={name!r})"
        identity = register_strategy_class(strategy, where)
        if not isinstance(data, Ref) or data.node.kind is not OpKind.SOURCE:
            raise InvalidInputError(f"{where}: data must be the ref returned by cb.add_data")
        self._check_owner(data, where)
        refs: dict[str, Any] = {}
        for column, ref in (columns or {}).items():
            if not isinstance(column, str) or not column.isidentifier():
                raise InvalidInputError(
                    f"{where}: column names must be identifiers (read as bar.<name>), got {column!r}"
                )
            refs[f"col_{column}"] = ref
        bound = self._bind_strategy(refs, where) if refs else {}
        if bound and self._strategy_data(bound, where).id != data.id:
            raise GraphError(f"{where}: every column must derive from the strategy's data feed")
        given = {
            "name": name if name is not None else strategy.__name__,
            "strategy_class": identity,
            "kwargs": plain(dict(params), where) or None,
            "start": _micros(self._feeds[data.id].start),
            "weight": weight,
            "symbols": None if symbols is None else list(symbols),
        }
        checked = EventStrategy.validate(given, where)
        try:
            inspect.signature(strategy).bind(**params)  # the constructor's parameters, not a call
        except TypeError as err:
            raise InvalidParameterError(
                f"{where}: {strategy.__name__}(**params) failed: {err}"
            ) from None
        inputs = {**bound, **{f: ColumnKey(data.id, f) for f in EventStrategy.data_fields}}
        labels = {role: role for role in bound}
        return self._add_strategy_node(
            Node.build(EventStrategy, inputs, checked, labels, _call_site()), where
        )

    def broker(
        self,
        fees: Any = None,
        slippage: Any = None,
        margin: Mapping[str, float] | None = None,
        priority: str = "stop_first",
        volume_share: float | None = None,
        stops_same_bar: bool = True,
    ) -> None:
        """Configure the portfolio broker: fee and slippage models, margin, fill options.

        Without ``fees`` the Cerebro's ``commission`` is a percent fee. See
        docs/broker.md for every model and rule.

        Examples
        --------
        >>> cb.broker(fees=sb.fees.maker_taker(maker=0.0002, taker=0.0007),   # doctest: +SKIP
        ...           slippage=sb.slippage.bps(2), margin={"leverage": 2.0, "maintenance": 0.25})
        """
        self._broker = BrokerSpec(
            fees=fees,
            slippage=slippage,
            margin=margin,
            priority=priority,
            volume_share=volume_share,
            stops_same_bar=stops_same_bar,
        ).to_params()

    def portfolio(
        self,
        cash: float | None = None,
        max_gross_exposure: float | None = None,
        max_symbol_notional: float | None = None,
        rebalance_every: int | None = None,
        instruments: Mapping[str, Any] | None = None,
        name: str = DEFAULT_NAME,
    ) -> None:
        """Share capital between all strategies of the run, with portfolio limits.

        ``cash`` (default: the Cerebro's) is split by the strategies'
        ``weight``; ``instruments`` maps a symbol to an ``sb.Instrument`` (lot
        and tick size, notional and position limits, currency); ``name`` names
        the portfolio's own rows in ``equity`` and ``positions``.

        Examples
        --------
        >>> cb.portfolio(max_gross_exposure=1.0, instruments={"GOOG": sb.Instrument(tick_size=0.01)})  # doctest: +SKIP
        """
        spec = PortfolioSpec(
            cash=self.cash if cash is None else cash,
            max_gross_exposure=max_gross_exposure,
            max_symbol_notional=max_symbol_notional,
            rebalance_every=rebalance_every,
        )
        if not isinstance(name, str) or not name.strip():
            raise InvalidParameterError(f"portfolio(name={name!r}): pass a non-empty name")
        if instruments is not None and not isinstance(instruments, Mapping):
            raise InvalidParameterError(
                "portfolio(instruments=...): pass a dict symbol -> sb.Instrument(...)"
            )
        specs = {
            sym: instruments_for([sym], [inst])[0].to_params()
            for sym, inst in (instruments or {}).items()
        }
        self._portfolio = {"spec": spec.to_params(), "instruments": specs or None, "name": name}

    def _bind_strategy(self, refs: Mapping[str, Any], where: str) -> dict[str, ColumnKey]:
        """Column keys of a strategy's refs, on the base frame (aligned as of each bar's close)."""
        bound: dict[str, ColumnKey] = {}
        for role, ref in refs.items():
            if not isinstance(ref, Ref):
                raise InvalidInputError(
                    f"{where}: {role} must be a ref from add_indicator, got {type(ref).__name__}"
                )
            self._check_owner(ref, where)
            key = ref.key(where)
            if frame_of(self.graph, ref.node) != BASE:
                key = self._align({role: key, "base": self._base_key(ref)}, where)[role]
            bound[role] = key
        return bound

    def _strategy_data(self, bound: Mapping[str, ColumnKey], where: str) -> Node:
        """The one feed every input of a strategy derives from."""
        found = {
            n.id: n
            for key in bound.values()
            for n in self.graph.ancestors(key.node_id)
            if n.op is Data
        }
        if len(found) != 1:
            raise GraphError(
                f"{where}: the signal must derive from exactly one feed, it derives from {len(found)}"
            )
        return next(iter(found.values()))

    def _add_strategy_node(self, node: Node, where: str) -> Ref:
        name = node.param_dict["name"]
        previous = self._strategies.get(name)
        if previous is not None and previous != node.id:
            raise GraphError(
                f"{where}: a different strategy is already named {name!r}; pick another name"
            )
        node = self.graph.add(node)
        self._strategies[name] = node.id
        return Ref(node, owner=id(self))

    def uses_portfolio(self) -> bool:
        """Whether this run simulates on the portfolio broker (one capital for all strategies)."""
        return (
            self._broker is not None or self._portfolio is not None or needs_portfolio(self.graph)
        )

    def _run_graph(self) -> Graph:
        """The graph a run compiles: strategies folded into one portfolio when it uses one."""
        if not self._strategies or not self.uses_portfolio():
            return self.graph
        port = self._portfolio or {
            "spec": PortfolioSpec(cash=self.cash).to_params(),
            "instruments": None,
            "name": DEFAULT_NAME,
        }
        broker = (
            self._broker
            or BrokerSpec(
                fees=fee_models.percent(self.commission) if self.commission else None
            ).to_params()
        )
        return fold(
            self.graph,
            list(self._strategies.values()),
            port["spec"],
            broker,
            port["instruments"],
            port["name"],
        )

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
        template, strategies = self.graph, self._strategies
        graph = self._run_graph()
        declared = swept_names(graph)
        owners: dict[str, Cell] = {}
        if declared:
            graph, owners = expand(graph, cells(self._grid, declared))
        self.graph = graph
        self._strategies = {
            name: n.id
            for n in graph.of_kind(OpKind.SIMULATION)
            for name in n.op.strategy_names(n.param_dict)
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
        if not engine.hosts_portfolio and any(
            n.op is Portfolio for n in self.graph.of_kind(OpKind.SIMULATION)
        ):
            raise UnsupportedError(
                f"backend {engine.name!r} does not host the portfolio broker yet (stop-loss, "
                "take-profit, sizers, weights, cb.broker, cb.portfolio, cb.add_strategy); run it "
                "on duckdb, polars or spark, or use plain cb.add_strat(signal, sb.alloc...) "
                "strategies"
            )
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
            # Loaded bars are ordered by (symbol, ts): their runs name the symbols, with no hash
            # of every row as unique() would do.
            symbols = frozenset(s for s, _, _ in symbol_runs(table.column("symbol")))
            name = feed.name  # describes the feed: once, not once per symbol
            for s in symbols:
                if s in seen:
                    raise DataError(
                        f"symbol {s!r} comes from two feeds ({seen[s]} and {name}); give each feed its own symbols"
                    )
                seen[s] = name
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
