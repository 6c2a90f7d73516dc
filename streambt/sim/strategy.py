"""Event-style strategies: ``class S(Strategy)`` with callbacks, run over the same broker kernel.

A :class:`Strategy` reacts to bars, orders, fills and trades; its callbacks
emit order intents through the :class:`Context` (``ctx.buy``, ``ctx.sell``,
``ctx.close``, ``ctx.cancel``, ``ctx.target_percent``) and read positions,
cash, equity, open orders and the bar's extra columns (indicators). The
:class:`EventStrategyRunner` steps the numba functions of
:mod:`streambt.sim.portfolio` bar by bar from Python and calls back in between,
so an event strategy that implements a pulse rule gives the pulse kernel's
orders, fills and trades exactly (``tests/sim/test_event_style.py``).

When callbacks run, per row (one bar of one symbol):

1. the bar trades (fills at the open and inside the bar), then ``on_order`` for
   each status change, ``on_fill`` for each fill, ``on_trade`` for each closed
   trade of the strategy, in that order;
2. at the bar's close, in strategy-code order: a pulse strategy decides from
   its signal, an event strategy that trades the symbol gets ``on_bar``;
   the intents it emits are orders created at this close (they can fill from
   the symbol's next bar), and their NEW / ACCEPTED / REJECTED changes are
   reported by ``on_order`` right after;
3. the margin check and the row's outputs.

Examples
--------
>>> import numpy as np
>>> from streambt.sim.portfolio import PortfolioKernel
>>> class BuyOnce(Strategy):
...     def on_bar(self, ctx, bar):
...         if ctx.position() == 0 and not ctx.open_orders():
...             ctx.buy(size=10, stop_loss=0.1)
>>> k = PortfolioKernel(symbols=["X"], portfolio={"cash": 1000.0},
...                     strategies=[{"name": "once", "style": "event"}])
>>> runner = EventStrategyRunner(k, {"once": BuyOnce()})
>>> bars = {"ts": np.array([1, 2]), "symbol": np.array([0, 0]), "open": np.array([10.0, 10.0]),
...         "high": np.array([10.0, 10.0]), "low": np.array([10.0, 10.0]),
...         "close": np.array([10.0, 10.0])}
>>> state, rows, events = runner.step_events(runner.init(), bars)
>>> rows["position_0"].tolist(), events["fills"]["price"].tolist()
([0.0, 10.0], [10.0])
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from streambt.errors import InvalidParameterError, StreambtError, did_you_mean
from streambt.kernels.base import Columns, Events, State
from streambt.sim import orders as ob
from streambt.sim.events import (
    PORTFOLIO_EVENT_COLUMNS,
    Liquidity,
    OrderRole,
    OrderStatus,
    OrderType,
    RejectReason,
    Side,
    TimeInForce,
    concat_events,
)
from streambt.sim.fills import equity
from streambt.sim.instruments import IN_LOT, round_lot
from streambt.sim.orders import find_order, is_working
from streambt.sim.portfolio import (
    BAD_STATE,
    NEED_BOOK,
    OK,
    BookRows,
    PortfolioKernel,
    atr_at,
    begin_row,
    cancel_order,
    check_row,
    close_position,
    decide,
    end_row,
    event_capacity,
    event_tables,
    grow_event_buffers,
    new_event_buffers,
    room,
    submit,
)

_TYPES = {
    "market": OrderType.MARKET,
    "limit": OrderType.LIMIT,
    "stop": OrderType.STOP,
    "stop_limit": OrderType.STOP_LIMIT,
}


@dataclass(frozen=True)
class OrderView:
    """An order as a callback sees it (names for codes; NaN for absent prices)."""

    order_id: int
    symbol: str
    side: int
    type: str
    tif: str
    role: str
    status: str
    reason: str
    size: float
    filled: float
    limit_price: float
    stop_price: float
    avg_price: float
    commission: float
    parent_id: int
    oco_group: int
    created_ts: int
    ts: int  # when this status was reached


@dataclass(frozen=True)
class FillView:
    order_id: int
    ts: int
    symbol: str
    side: int
    size: float
    price: float
    commission: float
    liquidity: str


@dataclass(frozen=True)
class TradeView:
    trade_id: int
    symbol: str
    side: int
    size: float
    entry_ts: int
    entry_price: float
    exit_ts: int
    exit_price: float
    pnl: float
    commission: float
    bars_held: int
    mae: float
    mfe: float
    exit_reason: str


class Bar:
    """One bar of one symbol with the row's extra columns as attributes and items."""

    __slots__ = ("close", "extra", "high", "low", "open", "symbol", "ts", "volume")

    def __init__(
        self,
        ts: int,
        symbol: str,
        o: float,
        h: float,
        lo: float,
        c: float,
        v: float,
        extra: dict[str, float],
    ) -> None:
        self.ts, self.symbol, self.open, self.high, self.low, self.close = ts, symbol, o, h, lo, c
        self.volume, self.extra = v, extra

    def __getattr__(self, name: str) -> float:
        try:
            return self.extra[name]
        except KeyError:
            raise AttributeError(
                f"bar has no column {name!r}; columns: {sorted(self.extra)}"
                f"{did_you_mean(name, self.extra)}"
            ) from None

    def __getitem__(self, name: str) -> float:
        return getattr(self, name) if name in self.__slots__ else self.extra[name]


class Strategy:
    """Base class of event-style strategies; override the callbacks you need.

    Examples
    --------
    >>> class Noop(Strategy):
    ...     def on_bar(self, ctx, bar):
    ...         pass
    >>> Noop().on_start(None)
    """

    def on_start(self, ctx: Context) -> None:
        """Once, before the first bar (no orders yet: there is no bar time)."""

    def on_bar(self, ctx: Context, bar: Bar) -> None:
        """At the close of each bar of a symbol the strategy trades."""

    def on_order(self, ctx: Context, order: OrderView) -> None:
        """Each status change of one of the strategy's orders."""

    def on_fill(self, ctx: Context, fill: FillView) -> None:
        """Each execution of one of the strategy's orders."""

    def on_trade(self, ctx: Context, trade: TradeView) -> None:
        """Each closed (part of a) round trip."""

    def on_stop(self, ctx: Context) -> None:
        """Once, from ``finish``."""


class Context:
    """What a strategy sees and can do; one per event-style strategy."""

    def __init__(self, runner: EventStrategyRunner, k: int) -> None:
        self._r = runner
        self.strategy = runner.kernel.specs[k].name
        self.k = k

    # --- reading ---------------------------------------------------------------------------

    @property
    def ts(self) -> int | None:
        """The current bar's ts (int64 microseconds, UTC); None outside a bar."""
        return self._r.ts

    @property
    def symbol(self) -> str | None:
        """The current bar's symbol."""
        return self._r.symbol

    def _code(self, symbol: str | None) -> int:
        r = self._r
        name = symbol if symbol is not None else r.symbol
        if name is None:
            raise StreambtError(f"strategy {self.strategy!r}: no current bar; pass symbol=")
        if name not in r.codes:
            raise InvalidParameterError(
                f"strategy {self.strategy!r}: unknown symbol {name!r}.{did_you_mean(name, r.codes)}"
            )
        s = r.codes[name]
        if r.kernel.P[1][self.k, s] != 1:
            raise InvalidParameterError(
                f"strategy {self.strategy!r} does not trade {name!r}; add it to its symbols"
            )
        return s

    def position(self, symbol: str | None = None) -> float:
        """Units held in ``symbol`` (default: the current bar's), signed."""
        return float(self._r.B[1][self.k, self._code(symbol)])

    def positions(self) -> dict[str, float]:
        """Every non-zero position of the strategy by symbol."""
        pos = self._r.B[1][self.k]
        return {self._r.kernel.symbols[s]: float(pos[s]) for s in np.flatnonzero(pos)}

    @property
    def cash(self) -> float:
        return float(self._r.B[0][self.k, ob.AC_CASH])

    @property
    def equity(self) -> float:
        """Cash plus positions at the last prices seen."""
        return float(equity(self._r.B, self.k))

    def price(self, symbol: str | None = None) -> float:
        """The last price seen of ``symbol`` (the current bar's close at ``on_bar``)."""
        return float(self._r.B[2][self._code(symbol), ob.SF_MARK])

    def open_orders(self, symbol: str | None = None) -> list[OrderView]:
        """The strategy's working orders (all symbols, or one), in id order."""
        r = self._r
        oi = r.B[6]
        codes = range(len(r.kernel.symbols)) if symbol is None else [self._code(symbol)]
        out = []
        for s in codes:
            slot = r.B[3][s, ob.SI_HEAD]
            while slot >= 0:
                if oi[slot, ob.OI_STRAT] == self.k and is_working(oi[slot, ob.OI_STATUS]):
                    out.append(r.view(slot, r.ts or 0))
                slot = oi[slot, ob.OI_NEXT]
        return sorted(out, key=lambda o: o.order_id)

    def order(self, order_id: int) -> OrderView | None:
        """An order still in the book (working, or final during the bar it ended), else None."""
        slot = find_order(self._r.B, order_id)
        return None if slot < 0 else self._r.view(slot, self._r.ts or 0)

    # --- intents ----------------------------------------------------------------------------

    def buy(
        self,
        size: float | None = None,
        type: str = "market",
        limit: float | None = None,
        stop: float | None = None,
        tif: str = "GTC",
        stop_loss: float | None = None,
        take_profit: float | None = None,
        trailing_stop: float | None = None,
        symbol: str | None = None,
    ) -> int:
        """Buy ``size`` units (None: the strategy's sizer at the fill); returns the order id.

        ``stop_loss``/``take_profit``/``trailing_stop`` are fractions of the fill
        price, placed as OCO legs when the order fills (docs/broker.md).
        """
        return self._order(
            1, size, type, limit, stop, tif, stop_loss, take_profit, trailing_stop, symbol
        )

    def sell(
        self,
        size: float | None = None,
        type: str = "market",
        limit: float | None = None,
        stop: float | None = None,
        tif: str = "GTC",
        stop_loss: float | None = None,
        take_profit: float | None = None,
        trailing_stop: float | None = None,
        symbol: str | None = None,
    ) -> int:
        """Sell (or short) ``size`` units; see :meth:`buy`."""
        return self._order(
            -1, size, type, limit, stop, tif, stop_loss, take_profit, trailing_stop, symbol
        )

    def close(self, symbol: str | None = None) -> int:
        """Cancel the position's legs and close it at the next open; 0 if flat."""
        r = self._r
        r.need_bar(self.strategy)
        s = self._code(symbol)
        r.ensure_room()
        return int(close_position(r.B, r.kernel.P, r.E, self.k, s, r.ts))

    def cancel(self, order_id: int) -> bool:
        """Cancel a working order (reason USER_CANCEL); False if it is not working."""
        r = self._r
        r.need_bar(self.strategy)
        slot = find_order(r.B, order_id)
        if slot >= 0 and r.B[6][slot, ob.OI_STRAT] != self.k:
            raise InvalidParameterError(
                f"strategy {self.strategy!r} cannot cancel order {order_id} of another strategy"
            )
        r.ensure_room()
        return bool(cancel_order(r.B, r.kernel.P, r.E, order_id, r.ts))

    def target_percent(self, p: float, symbol: str | None = None) -> int:
        """Trade toward ``p`` of equity in ``symbol`` (signed; whole lots, toward zero) at the next open.

        The size is computed now, with the current price; returns the order id,
        or 0 if no trade is needed.
        """
        self._r.need_bar(self.strategy)
        if not isinstance(p, int | float) or not np.isfinite(p):
            raise InvalidParameterError(f"target_percent(p={p!r}): p must be a finite number")
        s = self._code(symbol)
        price = self.price(symbol)
        lot = self._r.kernel.P[6][s, IN_LOT]
        target = round_lot(abs(p) * self.equity / price, lot) * (1.0 if p >= 0 else -1.0)
        delta = target - self.position(symbol)
        if delta == 0.0:
            return 0
        name = self._r.kernel.symbols[s]
        return self._order(
            1 if delta > 0 else -1, abs(delta), "market", None, None, "GTC", None, None, None, name
        )

    def _order(
        self,
        side: int,
        size: float | None,
        type: str,
        limit: float | None,
        stop: float | None,
        tif: str,
        sl: float | None,
        tp: float | None,
        trail: float | None,
        symbol: str | None,
    ) -> int:
        r = self._r
        r.need_bar(self.strategy)
        call = f"{self.strategy}: {'buy' if side > 0 else 'sell'}"
        if type not in _TYPES:
            raise InvalidParameterError(
                f"{call}(type={type!r}): type must be one of {sorted(_TYPES)}."
                f"{did_you_mean(type, _TYPES)}"
            )
        otype = _TYPES[type]
        need_limit = otype in (OrderType.LIMIT, OrderType.STOP_LIMIT)
        need_stop = otype in (OrderType.STOP, OrderType.STOP_LIMIT)
        for name, value, needed in (("limit", limit, need_limit), ("stop", stop, need_stop)):
            if needed and (value is None or not np.isfinite(value) or value <= 0):
                raise InvalidParameterError(
                    f"{call}(type={type!r}, {name}={value!r}): a {type} order needs a {name} "
                    "price > 0"
                )
            if not needed and value is not None:
                raise InvalidParameterError(
                    f"{call}(type={type!r}, {name}={value!r}): a {type} order takes no {name}"
                )
        if size is not None and (not np.isfinite(size) or size <= 0):
            raise InvalidParameterError(f"{call}(size={size!r}): size must be > 0 or None")
        if tif not in ("GTC", "DAY"):
            raise InvalidParameterError(f"{call}(tif={tif!r}): tif must be 'GTC' or 'DAY'")
        for name, value in (("stop_loss", sl), ("trailing_stop", trail)):
            if value is not None and not 0 < value < 1:
                raise InvalidParameterError(f"{call}({name}={value!r}): a fraction in (0, 1)")
        if tp is not None and not tp > 0:
            raise InvalidParameterError(f"{call}(take_profit={tp!r}): a fraction > 0")
        s = self._code(symbol)
        r.ensure_room()
        nan = np.nan

        def f(x: float | None) -> float:
            return nan if x is None else float(x)

        oid = submit(
            r.B,
            r.kernel.P,
            r.E,
            self.k,
            s,
            side,
            int(otype),
            int(TimeInForce[tif]),
            f(size),
            f(limit),
            f(stop),
            r.ts,
            1.0,
            r.atr(self.k),
            f(sl),
            f(tp),
            f(trail),
        )
        return int(oid)


class EventStrategyRunner:
    """Host of a :class:`PortfolioKernel` whose strategies include event-style ones.

    Same interface as the kernel (``init``, ``step_events``, ``finish``) and
    the same outputs; pulse strategies of the kernel keep deciding from their
    signal columns. The Python strategy objects hold their own state, so a
    runner is tied to one run.

    Parameters
    ----------
    kernel : PortfolioKernel
    strategies : dict name -> Strategy
        One instance per strategy declared with ``style="event"``.
    """

    def __init__(self, kernel: PortfolioKernel, strategies: Mapping[str, Strategy]) -> None:
        self.kernel = kernel
        names = {x.name: k for k, x in enumerate(kernel.specs)}
        declared = {x.name for x in kernel.specs if x.style == "event"}
        if set(strategies) != declared:
            raise InvalidParameterError(
                f"EventStrategyRunner: pass one Strategy for each event-style strategy "
                f"{sorted(declared)}, got {sorted(strategies)}"
            )
        self.objects = {names[n]: s for n, s in strategies.items()}
        self.contexts = {k: Context(self, k) for k in self.objects}
        self.codes = {s: i for i, s in enumerate(kernel.symbols)}
        self.ts: int | None = None
        self.symbol: str | None = None
        self._atr: np.ndarray | None = None
        self._j = 0
        self.B: tuple[np.ndarray, ...] = ()
        self.E: tuple[np.ndarray, ...] = new_event_buffers(16)

    # --- used by Context -----------------------------------------------------------------------

    def need_bar(self, name: str) -> None:
        if self.ts is None:
            raise StreambtError(
                f"strategy {name!r}: orders can be placed only from a bar's callbacks "
                "(on_bar, on_order, on_fill, on_trade), not from on_start/on_stop"
            )

    def ensure_room(self) -> None:
        while (code := room(self.B, self.kernel.P, self.E)) != OK:
            if code == NEED_BOOK:
                self.B = self.kernel.grow_book(self.B)
            else:
                self.E = grow_event_buffers(self.E, 2 * event_capacity(self.E))

    def atr(self, k: int) -> float:
        return float(atr_at(self._atr, k, self._j)) if self._atr is not None else float("nan")

    def view(self, slot: int, ts: int) -> OrderView:
        oi, of = self.B[6], self.B[7]
        filled = float(of[slot, ob.OF_FILLED])
        return OrderView(
            order_id=int(oi[slot, ob.OI_ID]),
            symbol=self.kernel.symbols[int(oi[slot, ob.OI_SYM])],
            side=int(oi[slot, ob.OI_SIDE]),
            type=OrderType(int(oi[slot, ob.OI_TYPE])).name,
            tif=TimeInForce(int(oi[slot, ob.OI_TIF])).name,
            role=OrderRole(int(oi[slot, ob.OI_ROLE])).name,
            status=OrderStatus(int(oi[slot, ob.OI_STATUS])).name,
            reason=RejectReason(int(oi[slot, ob.OI_REASON])).name,
            size=float(of[slot, ob.OF_REQ]),
            filled=filled,
            limit_price=float(of[slot, ob.OF_LIMIT]),
            stop_price=float(of[slot, ob.OF_STOP]),
            avg_price=float(of[slot, ob.OF_NOTIONAL]) / filled if filled > 0 else float("nan"),
            commission=float(of[slot, ob.OF_COMM]),
            parent_id=int(oi[slot, ob.OI_PARENT]),
            oco_group=int(oi[slot, ob.OI_OCO]),
            created_ts=int(oi[slot, ob.OI_CREATED_TS]),
            ts=ts,
        )

    # --- kernel interface -------------------------------------------------------------------------

    def init(self) -> State:
        """The kernel's initial state; calls ``on_start`` of every event strategy."""
        state = self.kernel.init()
        self.B = self.kernel.book(state)
        for k, obj in self.objects.items():
            obj.on_start(self.contexts[k])
        return state

    def _dispatch(self, seen: np.ndarray) -> None:
        """Call back for every event recorded since ``seen`` (counts per table), until quiet."""
        while True:
            now = self.E[7].copy()
            if (now == seen).all():
                return
            tables = event_tables(self.E, seen)
            seen[:] = now
            names = self.kernel.symbols
            ev = tables["order_events"]
            for i in range(len(ev["order_id"])):
                slot = find_order(self.B, int(ev["order_id"][i]))
                k = int(self.B[6][slot, ob.OI_STRAT]) if slot >= 0 else -1
                if k in self.objects:
                    view = self.view(slot, int(ev["ts"][i]))
                    view = _with_status(view, int(ev["status"][i]), int(ev["reason"][i]))
                    self.objects[k].on_order(self.contexts[k], view)
            f = tables["fills"]
            for i in range(len(f["order_id"])):
                k = int(f["strategy"][i])
                if k in self.objects:
                    fill = FillView(
                        int(f["order_id"][i]),
                        int(f["ts"][i]),
                        names[int(f["symbol"][i])],
                        int(f["side"][i]),
                        float(f["size"][i]),
                        float(f["price"][i]),
                        float(f["commission"][i]),
                        Liquidity(int(f["liquidity"][i])).name,
                    )
                    self.objects[k].on_fill(self.contexts[k], fill)
            t = tables["trades"]
            for i in range(len(t["trade_id"])):
                k = int(t["strategy"][i])
                if k in self.objects:
                    trade = TradeView(
                        int(t["trade_id"][i]),
                        names[int(t["symbol"][i])],
                        int(t["side"][i]),
                        float(t["size"][i]),
                        int(t["entry_ts"][i]),
                        float(t["entry_price"][i]),
                        int(t["exit_ts"][i]),
                        float(t["exit_price"][i]),
                        float(t["pnl"][i]),
                        float(t["commission"][i]),
                        int(t["bars_held"][i]),
                        float(t["mae"][i]),
                        float(t["mfe"][i]),
                        OrderRole(int(t["exit_reason"][i])).name,
                    )
                    self.objects[k].on_trade(self.contexts[k], trade)

    def step_events(
        self, state: State, cols: Mapping[str, np.ndarray]
    ) -> tuple[State, Columns, Events]:
        """Consume rows like :meth:`PortfolioKernel.step_events`, calling the strategies back."""
        kernel = self.kernel
        P = kernel.P
        ts, sym, o, h, lo, c, v, sig, atr = kernel.prepare(cols)
        known = {"ts", "symbol", "open", "high", "low", "close", "volume"}
        extras = {name: np.asarray(col) for name, col in cols.items() if name not in known}
        n = ts.shape[0]
        self.B = kernel.book(state)
        self.E = new_event_buffers(n // 4 + 256)
        self._atr = atr
        rows = np.empty((4 * len(kernel.specs) + 3, n))
        pulse = set(kernel.pulse)
        ssym = P[1]
        seen = np.zeros(4, np.int64)
        try:
            for j in range(n):
                self._j = j
                self.ensure_room()
                s = int(sym[j])
                code = check_row(
                    self.B, ts[j], s, o[j], h[j], lo[j], c[j], v[j], kernel.need_volume
                )
                if code != OK:
                    raise kernel.error(code, self.B, j, cols, int(state["gi"][3]))
                self.ts, self.symbol = int(ts[j]), kernel.symbols[s]
                rebalanced = begin_row(self.B, P, self.E, ts[j], s, o[j], h[j], lo[j], c[j], v[j])
                self._dispatch(seen)
                bar = None
                for k in range(len(kernel.specs)):
                    if ssym[k, s] != 1:
                        continue
                    if k in pulse:
                        if not np.isnan(sig[k, j]):
                            self.ensure_room()
                            decide(
                                self.B, P, self.E, k, s, sig[k, j], ts[j], c[j], atr_at(atr, k, j)
                            )
                    elif k in self.objects:
                        if bar is None:
                            extra = {name: col[j].item() for name, col in extras.items()}
                            bar = Bar(self.ts, self.symbol, o[j], h[j], lo[j], c[j], v[j], extra)
                        self.objects[k].on_bar(self.contexts[k], bar)
                    self._dispatch(seen)
                end_row(self.B, P, self.E, ts[j], s, rebalanced, rows, j)
                self._dispatch(seen)
                if self.B[4][ob.G_ERR] != 0:
                    raise kernel.error(BAD_STATE, self.B, j, cols, 0)
        finally:
            self.ts = self.symbol = None
        out = {name: rows[i] for i, name in enumerate(kernel.row_columns())}
        return kernel.unbook(self.B), out, event_tables(self.E)

    def step(self, state: State, cols: Mapping[str, np.ndarray]) -> tuple[State, Columns]:
        state, rows, _ = self.step_events(state, cols)
        return state, rows

    def step_book(
        self, state: State, cols: Mapping[str, np.ndarray]
    ) -> tuple[State, BookRows, Events]:
        """Like :meth:`PortfolioKernel.step_book` (here taken from the full rows)."""
        state, rows, events = self.step_events(state, cols)
        return state, BookRows.of_rows(np.asarray(cols["ts"]), rows, len(self.kernel.specs)), events

    def finish(self, state: State) -> Events:
        """The kernel's ``finish`` events; calls ``on_stop`` of every event strategy."""
        self.B = self.kernel.book(state)
        for k, obj in self.objects.items():
            obj.on_stop(self.contexts[k])
        return self.kernel.finish(state)

    def run(
        self, cols: Mapping[str, np.ndarray], chunks: Sequence[int] = ()
    ) -> tuple[Columns, Events]:
        """Convenience: init, step over ``cols`` cut at ``chunks``, finish; (rows, all events)."""
        state = self.init()
        bounds = [0, *chunks, len(cols["ts"])]
        rows, events = [], []
        for a, b in itertools.pairwise(bounds):
            state, r, e = self.step_events(state, {k: v[a:b] for k, v in cols.items()})
            rows.append(r)
            events.append(e)
        events.append(self.finish(state))
        out = {name: np.concatenate([r[name] for r in rows]) for name in self.kernel.row_columns()}
        return out, concat_events(events, PORTFOLIO_EVENT_COLUMNS)


def _with_status(view: OrderView, status: int, reason: int) -> OrderView:
    from dataclasses import replace

    return replace(view, status=OrderStatus(status).name, reason=RejectReason(reason).name)


__all__ = [
    "Bar",
    "Context",
    "EventStrategyRunner",
    "FillView",
    "OrderView",
    "Side",
    "Strategy",
    "TradeView",
]
