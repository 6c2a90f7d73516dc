"""The parity cases: graph builders every engine must run to the reference's numbers.

Each case takes a Cerebro and returns the refs whose values are compared.
Add a case here with every feature; add an engine in ``engines.py``.
"""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd

import streambt as sb

Case = Callable[[sb.Cerebro, pd.DataFrame], dict[str, sb.Ref]]


def _data(cb: sb.Cerebro, df: pd.DataFrame) -> sb.Ref:
    return cb.add_data(sb.feeds.from_pandas(df))


def sma_cross_long(cb: sb.Cerebro, df: pd.DataFrame) -> dict[str, sb.Ref]:
    data = _data(cb, df)
    fast = cb.add_indicator(sb.ind.sma, data["close"], window=10)
    slow = cb.add_indicator(sb.ind.sma, data["close"], window=30)
    pulse = cb.add_indicator(sb.sig.cross, fast, slow)
    cb.add_strat(pulse, sb.alloc.all_in(long_only=True), name="sma_cross")
    return {"fast": fast, "slow": slow, "pulse": pulse}


def ema_cross_long_short(cb: sb.Cerebro, df: pd.DataFrame) -> dict[str, sb.Ref]:
    data = _data(cb, df)
    fast = cb.add_indicator(sb.ind.ema, data["close"], window=12)
    slow = cb.add_indicator(sb.ind.ema, data["close"], window=26)
    pulse = cb.add_indicator(sb.sig.cross, fast, slow)
    cb.add_strat(pulse, sb.alloc.all_in(long_only=False), name="ema_ls")
    return {"fast": fast, "slow": slow, "pulse": pulse}


def chained_indicators(cb: sb.Cerebro, df: pd.DataFrame) -> dict[str, sb.Ref]:
    """Relational on kernel on relational: sma(rsi), stddev(ema), lag(sma), cross of mixed kinds."""
    data = _data(cb, df)
    rsi = cb.add_indicator(sb.ind.rsi, data["close"], window=14)
    rsi_sma = cb.add_indicator(sb.ind.sma, rsi, window=5)
    ema = cb.add_indicator(sb.ind.ema, data["close"], window=20)
    ema_sd = cb.add_indicator(sb.ind.stddev, ema, window=10, nbdev=2.0)
    sma = cb.add_indicator(sb.ind.sma, data["close"], window=20)
    lag = cb.add_indicator(sb.ind.lag, sma, periods=3)
    pulse = cb.add_indicator(sb.sig.cross, rsi, rsi_sma)
    cb.add_strat(pulse, sb.alloc.target_percent(0.5, long_only=False), name="rsi_cross")
    return {
        "rsi": rsi,
        "rsi_sma": rsi_sma,
        "ema": ema,
        "ema_sd": ema_sd,
        "lag": lag,
        "pulse": pulse,
    }


def two_strategies_fixed(cb: sb.Cerebro, df: pd.DataFrame) -> dict[str, sb.Ref]:
    data = _data(cb, df)
    fast = cb.add_indicator(sb.ind.sma, data["close"], window=5)
    slow = cb.add_indicator(sb.ind.sma, data["close"], window=20)
    ema = cb.add_indicator(sb.ind.ema, data["close"], window=20)
    cb.add_strat(
        cb.add_indicator(sb.sig.cross, fast, slow),
        sb.alloc.fixed(7, long_only=False),
        name="sma_fixed",
    )
    cb.add_strat(cb.add_indicator(sb.sig.cross, fast, ema), sb.alloc.all_in(), name="sma_ema")
    return {"fast": fast, "slow": slow, "ema": ema}


def portfolio_brackets(cb: sb.Cerebro, df: pd.DataFrame) -> dict[str, sb.Ref]:
    """Two strategies sharing one capital by weight, with OCO brackets and a trailing stop."""
    data = _data(cb, df)
    fast = cb.add_indicator(sb.ind.sma, data["close"], window=5)
    slow = cb.add_indicator(sb.ind.sma, data["close"], window=20)
    atr = cb.add_indicator(sb.ind.atr, data, window=14)
    cb.add_strat(
        cb.add_indicator(sb.sig.cross, fast, slow),
        sb.sizers.risk(0.02),
        name="brackets",
        stop_loss=0.03,
        take_profit=0.05,
        weight=2.0,
    )
    cb.add_strat(
        cb.add_indicator(sb.sig.cross, slow, fast),
        sb.sizers.volatility_target(0.01),
        name="trailing",
        long_only=False,
        trailing_stop=0.04,
        atr=atr,
    )
    cb.broker(slippage=sb.slippage.bps(2))
    return {"fast": fast, "slow": slow, "atr": atr}


class DipBuyer(sb.Strategy):
    """Event style: buys a dip below the SMA with a stop-loss, takes profit at +4 %."""

    def on_bar(self, ctx, bar):
        if ctx.position() == 0 and not ctx.open_orders() and bar.close < 0.98 * bar.sma:
            ctx.buy(size=10, stop_loss=0.05, take_profit=0.04)


def portfolio_event(cb: sb.Cerebro, df: pd.DataFrame) -> dict[str, sb.Ref]:
    """An event-style strategy beside a pulse one on the same broker."""
    data = _data(cb, df)
    sma = cb.add_indicator(sb.ind.sma, data["close"], window=10)
    cb.add_strategy(DipBuyer, data, name="dips", columns={"sma": sma})
    slow = cb.add_indicator(sb.ind.sma, data["close"], window=30)
    cb.add_strat(cb.add_indicator(sb.sig.cross, sma, slow), sb.alloc.all_in(), name="cross")
    cb.portfolio(cash=20_000)
    return {"sma": sma, "slow": slow}


def sweep_cells(cb: sb.Cerebro, df: pd.DataFrame) -> dict[str, sb.Ref]:
    """A parameter sweep: 2 x 2 cells, each its own strategy; SMAs and EMAs shared by cells."""
    data = _data(cb, df)
    fast = cb.add_indicator(sb.ind.sma, data["close"], window=sb.param("fast"))
    slow = cb.add_indicator(sb.ind.ema, data["close"], window=sb.param("slow"))
    pulse = cb.add_indicator(sb.sig.cross, fast, slow)
    cb.add_strat(pulse, sb.alloc.all_in(long_only=False), name="sweep")
    cb.sweep({"fast": [5, 10], "slow": [20, 30]})
    return {}  # the refs stand for every cell: the factors table holds their columns


def portfolio_sweep(cb: sb.Cerebro, df: pd.DataFrame) -> dict[str, sb.Ref]:
    """A sweep of the portfolio broker: every cell its own portfolio with its own capital,
    the stop-loss and the fast window swept."""
    data = _data(cb, df)
    fast = cb.add_indicator(sb.ind.sma, data["close"], window=sb.param("fast"))
    slow = cb.add_indicator(sb.ind.sma, data["close"], window=25)
    cb.add_strat(
        cb.add_indicator(sb.sig.cross, fast, slow),
        sb.sizers.percent_equity(0.4),
        name="swept",
        stop_loss=sb.param("sl"),
        take_profit=0.06,
    )
    cb.sweep({"fast": [5, 8], "sl": [0.02, 0.04]})
    return {"slow": slow}


CASES: dict[str, Case] = {
    "sma_cross_long": sma_cross_long,
    "ema_cross_long_short": ema_cross_long_short,
    "chained_indicators": chained_indicators,
    "two_strategies_fixed": two_strategies_fixed,
    "sweep_cells": sweep_cells,
    "portfolio_brackets": portfolio_brackets,
    "portfolio_event": portfolio_event,
    "portfolio_sweep": portfolio_sweep,
}
