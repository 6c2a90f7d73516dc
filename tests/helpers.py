"""Builders shared by the tests: real daily bars and the contract's SMA-cross graph."""

from __future__ import annotations

import pandas as pd

import streambt as sb


def goog_frame() -> pd.DataFrame:
    """backtesting.py's bundled daily GOOG bars (2004-2013) as a streambt frame."""
    from backtesting.test import GOOG

    df = GOOG.copy()
    df.columns = [c.lower() for c in df.columns]
    df.index = pd.DatetimeIndex(df.index, tz="UTC", name="ts")
    return df.reset_index()


def sma_cross(
    df: pd.DataFrame,
    *,
    fast: int = 10,
    slow: int = 30,
    long_only: bool = True,
    cash: float = 10_000,
    commission: float = 0.001,
    symbol: str = "GOOG",
) -> tuple[sb.Cerebro, dict[str, sb.Ref]]:
    """The contract example of issue 2, built on ``df``."""
    cb = sb.Cerebro(cash=cash, commission=commission)
    data = cb.add_data(sb.feeds.from_pandas(df, symbol=symbol))
    f = cb.add_indicator(sb.ind.sma, data["close"], window=fast)
    s = cb.add_indicator(sb.ind.sma, data["close"], window=slow)
    pulse = cb.add_indicator(sb.sig.cross, f, s)
    strat = cb.add_strat(pulse, sb.alloc.all_in(long_only=long_only), name="sma_cross")
    return cb, {"data": data, "fast": f, "slow": s, "pulse": pulse, "strat": strat}
