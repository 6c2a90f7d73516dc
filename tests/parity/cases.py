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


CASES: dict[str, Case] = {
    "sma_cross_long": sma_cross_long,
    "ema_cross_long_short": ema_cross_long_short,
    "chained_indicators": chained_indicators,
    "two_strategies_fixed": two_strategies_fixed,
}
