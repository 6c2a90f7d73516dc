"""Run the peer libraries on the SMA-cross rules and return normalized trade lists.

The rules are streambt's (``sig.cross`` + ``alloc.all_in``): the strict cross of
two SMAs is decided at a bar's close and filled at the next bar's open, all-in
with whole units, ``floor(cash / (open * (1 + commission)))``, commission a
fraction of the traded value on each fill. A position still open at the end is
not a trade. Each ``run_*`` function returns a DataFrame with ``TRADE_COLUMNS``:
``side`` (+1/-1), ``size`` (units, positive), ``entry_ts``/``exit_ts`` (UTC, the
label of the bar whose open filled the order), prices, ``pnl`` (net of both
fees) and ``commission`` (both fees). A signal in the direction already held
does nothing (with no SMA ties, as on GOOG, signals alternate anyway).

How each peer is bent to these rules:

- backtesting.py: ``trade_on_close=False`` fills market orders at the next open;
  ``size=ALL_IN`` (a fraction just below 1) makes ``_Broker._process_orders``
  size ``int(margin_available * ALL_IN // (open + commission(open)))``, i.e.
  ``floor(cash / (open * (1 + c)))``; it charges ``c * |size| * price`` at entry
  and at exit, and ``Trade.pl`` is net of both, as ours. ``finalize_trades=False``
  keeps the open trade out of ``stats._trades``. Its ``lib.crossover`` is the
  strict cross (``a[-2] < b[-2] and a[-1] > b[-1]``).
- backtrader: ``cheat_on_open=True``; the signal is decided in ``next()`` (bar
  close) and the order placed in ``next_open()`` of the next bar, sized at that
  bar's open, which the broker (``coo``) fills at the same open. Its
  ``CrossOver`` indicator counts a touch-and-cross (a tie at the previous bar)
  as a cross, so the strict cross is computed from the two ``SMA`` lines here.
  ``setcommission(commission=c)`` is a fraction (``percabs=True``) of value.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

TRADE_COLUMNS = [
    "side",
    "size",
    "entry_ts",
    "entry_price",
    "exit_ts",
    "exit_price",
    "pnl",
    "commission",
]

# backtesting.py sizes a fraction in (-1, 1) of the available margin; 1 - 1e-9
# turns int(cash * ALL_IN // (open * (1 + c))) into floor(cash / (open * (1 + c)))
# except when that quotient is within 1e-9 (relative) above an integer.
ALL_IN = 1 - 1e-9


@dataclass(frozen=True)
class SmaCross:
    """The rules both peers run: SMA fast/slow strict cross, all-in."""

    fast: int = 10
    slow: int = 30
    cash: float = 10_000.0
    commission: float = 0.001
    long_only: bool = True


# --------------------------------------------------------------------------- data


def goog() -> pd.DataFrame:
    """backtesting.py's GOOG daily bars (2004-2013), columns Open..Volume, naive dates."""
    from backtesting.test import GOOG

    return GOOG.copy()


def to_streambt_frame(ohlcv: pd.DataFrame) -> pd.DataFrame:
    """Capitalized OHLCV with a DatetimeIndex -> streambt's ``ts`` (UTC) + lower-case columns."""
    df = ohlcv.rename(columns=str.lower)[["open", "high", "low", "close", "volume"]]
    idx = pd.DatetimeIndex(df.index)
    ts = idx.tz_localize("UTC") if idx.tz is None else idx.tz_convert("UTC")
    df = df.reset_index(drop=True)
    df.insert(0, "ts", ts)
    return df


def to_peer_frame(df: pd.DataFrame) -> pd.DataFrame:
    """streambt-style frame (``ts`` + lower-case) -> capitalized OHLCV on a naive UTC index."""
    ts = pd.DatetimeIndex(df["ts"])
    if ts.tz is not None:
        ts = ts.tz_convert("UTC").tz_localize(None)
    out = df[["open", "high", "low", "close", "volume"]].rename(columns=str.capitalize)
    out.index = ts
    return out


def _utc(index: pd.Index, positions: Any) -> pd.Series:
    labels = pd.DatetimeIndex(index[np.asarray(positions, dtype=np.int64)])
    labels = labels.tz_localize("UTC") if labels.tz is None else labels.tz_convert("UTC")
    return pd.Series(labels.as_unit("ns"))


# ----------------------------------------------------------------------- signals


def sma(values: np.ndarray, window: int) -> np.ndarray:
    """Simple moving average, NaN for the first ``window - 1`` values (pandas rolling mean)."""
    return pd.Series(np.asarray(values, dtype=np.float64)).rolling(window).mean().to_numpy()


def strict_cross(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """+1 where ``a`` crosses above ``b`` at i (a[i-1] < b[i-1], a[i] > b[i]), -1 below, else 0."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    out = np.zeros(len(a), dtype=np.int64)
    up = (a[:-1] < b[:-1]) & (a[1:] > b[1:])
    down = (a[:-1] > b[:-1]) & (a[1:] < b[1:])
    out[1:][up] = 1
    out[1:][down] = -1
    return out


def all_in_units(cash: float, price: float, commission: float) -> int:
    """Whole units that ``cash`` buys at ``price`` with the commission on top."""
    return max(0, math.floor(cash / (price * (1 + commission))))


def _frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    df = pd.DataFrame(rows, columns=TRADE_COLUMNS)
    df["side"] = df["side"].astype(np.int64)
    df["size"] = df["size"].astype(np.float64)
    for col in ("entry_ts", "exit_ts"):
        df[col] = pd.to_datetime(df[col], utc=True).dt.as_unit("ns")
    for col in ("entry_price", "exit_price", "pnl", "commission"):
        df[col] = df[col].astype(np.float64)
    return df.sort_values(["entry_ts", "exit_ts"], kind="stable").reset_index(drop=True)


# ---------------------------------------------------------------- backtesting.py


def run_backtesting_py(ohlcv: pd.DataFrame, rules: SmaCross = SmaCross()) -> pd.DataFrame:
    """Run the rules on backtesting.py; ``ohlcv`` has Open..Volume columns and a DatetimeIndex."""
    import warnings

    from backtesting import Backtest, Strategy
    from backtesting.lib import crossover

    class SmaCrossBtpy(Strategy):
        def init(self) -> None:
            self.fast = self.I(sma, self.data.Close, rules.fast, name="fast")
            self.slow = self.I(sma, self.data.Close, rules.slow, name="slow")

        def next(self) -> None:
            pos = self.position
            if crossover(self.fast, self.slow):
                if pos.is_short:
                    pos.close()  # processed first: close orders go to the queue's head
                if not pos.is_long:
                    self.buy(size=ALL_IN)
            elif crossover(self.slow, self.fast):
                if pos.is_long:
                    pos.close()
                if not rules.long_only and not pos.is_short:
                    self.sell(size=ALL_IN)

    data = ohlcv[["Open", "High", "Low", "Close", "Volume"]]
    bt = Backtest(
        data,
        SmaCrossBtpy,
        cash=rules.cash,
        commission=rules.commission,
        spread=0.0,
        margin=1.0,
        trade_on_close=False,
        hedging=False,
        exclusive_orders=False,
        finalize_trades=False,
    )
    with warnings.catch_warnings():
        # "Some trades remain open" is the intended end state; "prices larger than cash" is moot.
        warnings.simplefilter("ignore", UserWarning)
        stats = bt.run()
    t = stats._trades
    entry_ts = _utc(data.index, t["EntryBar"])
    exit_ts = _utc(data.index, t["ExitBar"])
    rows = [
        {
            "side": 1 if size > 0 else -1,
            "size": abs(size),
            "entry_ts": ets,
            "entry_price": ep,
            "exit_ts": xts,
            "exit_price": xp,
            "pnl": pnl,
            "commission": comm,
        }
        for size, ets, ep, xts, xp, pnl, comm in zip(
            t["Size"],
            entry_ts,
            t["EntryPrice"],
            exit_ts,
            t["ExitPrice"],
            t["PnL"],
            t["Commission"],
            strict=True,
        )
    ]
    return _frame(rows)


# -------------------------------------------------------------------- backtrader


def _backtrader_strategy(rules: SmaCross) -> type:
    import backtrader as bt

    class SmaCrossBt(bt.Strategy):
        def __init__(self) -> None:
            self.fast = bt.indicators.SMA(self.data.close, period=rules.fast)
            self.slow = bt.indicators.SMA(self.data.close, period=rules.slow)
            self.signal = 0
            self.rows: list[dict[str, Any]] = []
            self.set_tradehistory(True)

        def next(self) -> None:
            # Decided at this bar's close; the SMA lines hold NaN before their period.
            f0, f1 = self.fast[0], self.fast[-1]
            s0, s1 = self.slow[0], self.slow[-1]
            if f1 < s1 and f0 > s0:
                self.signal = 1
            elif f1 > s1 and f0 < s0:
                self.signal = -1
            else:
                self.signal = 0

        def next_open(self) -> None:
            # Runs before the broker fills this bar's open (cheat_on_open).
            signal, self.signal = self.signal, 0
            if not signal:
                return
            c = rules.commission
            price = self.data.open[0]
            pos = self.position.size
            cash = self.broker.getcash()
            if signal > 0:
                if pos < 0:
                    self.close()
                    # shortcash: a short's proceeds sit in cash, covering pays them back.
                    cash -= -pos * price * (1 + c)
                if pos <= 0 and (units := all_in_units(cash, price, c)):
                    self.buy(size=units)
            else:
                if pos > 0:
                    self.close()
                    cash += pos * price * (1 - c)
                if not rules.long_only and pos >= 0 and (units := all_in_units(cash, price, c)):
                    self.sell(size=units)

        def notify_trade(self, trade: Any) -> None:
            if not trade.isclosed:
                return
            first, last = trade.history[0], trade.history[-1]
            self.rows.append(
                {
                    "side": 1 if trade.long else -1,
                    "size": abs(first.event.size),
                    "entry_bar": trade.baropen - 1,
                    "entry_price": trade.price,
                    "exit_bar": trade.barclose - 1,
                    "exit_price": last.event.price,
                    "pnl": trade.pnlcomm,
                    "commission": trade.commission,
                }
            )

    return SmaCrossBt


def backtrader_cerebro(
    ohlcv: pd.DataFrame, rules: SmaCross = SmaCross(), *, minutes: bool = False
) -> Any:
    """A ready backtrader Cerebro running the rules on ``ohlcv`` (naive UTC DatetimeIndex)."""
    import backtrader as bt

    cerebro = bt.Cerebro(cheat_on_open=True, stdstats=False)
    kwargs: dict[str, Any] = {}
    if minutes:
        kwargs = {"timeframe": bt.TimeFrame.Minutes, "compression": 1}
    cerebro.adddata(bt.feeds.PandasData(dataname=ohlcv, **kwargs))
    cerebro.addstrategy(_backtrader_strategy(rules))
    cerebro.broker.setcash(rules.cash)
    cerebro.broker.setcommission(commission=rules.commission)
    cerebro.broker.set_coc(False)
    cerebro.broker.set_coo(True)
    return cerebro


def run_backtrader(ohlcv: pd.DataFrame, rules: SmaCross = SmaCross()) -> pd.DataFrame:
    """Run the rules on backtrader; ``ohlcv`` has Open..Volume columns and a DatetimeIndex."""
    data = ohlcv[["Open", "High", "Low", "Close", "Volume"]]
    (strat,) = backtrader_cerebro(data, rules).run()
    rows = []
    for r in strat.rows:
        r = dict(r)
        r["entry_ts"] = _utc(data.index, [r.pop("entry_bar")])[0]
        r["exit_ts"] = _utc(data.index, [r.pop("exit_bar")])[0]
        rows.append(r)
    return _frame(rows)


# ---------------------------------------------------------------------- streambt


def run_streambt(df: pd.DataFrame, rules: SmaCross = SmaCross(), symbol: str = "GOOG") -> Any:
    """Run the rules on streambt (DuckDB batch); ``df`` has ``ts`` + lower-case OHLCV."""
    import streambt as sb

    cb = sb.Cerebro(cash=rules.cash, commission=rules.commission)
    data = cb.add_data(sb.feeds.from_pandas(df, symbol=symbol))
    fast = cb.add_indicator(sb.ind.sma, data["close"], window=rules.fast)
    slow = cb.add_indicator(sb.ind.sma, data["close"], window=rules.slow)
    pulse = cb.add_indicator(sb.sig.cross, fast, slow)
    cb.add_strat(pulse, sb.alloc.all_in(long_only=rules.long_only), name="sma_cross")
    return cb.run()


def streambt_trades(result: Any) -> pd.DataFrame:
    """streambt's ``res.trades`` (pyarrow) in the peers' format."""
    t = result.trades.to_pandas()
    return _frame(t[TRADE_COLUMNS].to_dict("records"))


# -------------------------------------------------------------------- comparison


def assert_same_trades(
    left: pd.DataFrame,
    right: pd.DataFrame,
    *,
    rtol: float = 1e-9,
    names: tuple[str, str] = ("left", "right"),
) -> None:
    """Trade for trade: same count, timestamps, sides and sizes; prices, pnl, fees to ``rtol``."""
    a, b = names
    assert len(left) == len(right), f"{a} has {len(left)} trades, {b} has {len(right)}"
    for col in ("entry_ts", "exit_ts", "side", "size"):
        diff = left[col].to_numpy() != right[col].to_numpy()
        if diff.any():
            i = int(np.argmax(diff))
            raise AssertionError(
                f"{col} differs at trade {i} ({diff.sum()} trades differ):\n"
                f"{a}: {left.iloc[i].to_dict()}\n{b}: {right.iloc[i].to_dict()}"
            )
    for col in ("entry_price", "exit_price", "pnl", "commission"):
        np.testing.assert_allclose(
            left[col].to_numpy(),
            right[col].to_numpy(),
            rtol=rtol,
            atol=0,
            err_msg=f"{col}: {a} vs {b}",
        )
