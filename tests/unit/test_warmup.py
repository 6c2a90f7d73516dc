"""A feed's warm-up bars make indicators ready at the start; no order is decided before it."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow.compute as pc

import streambt as sb


def _run(feed: sb.feeds.Feed, mode: str = "batch") -> tuple[sb.Result, sb.Ref]:
    cb = sb.Cerebro(cash=10_000, commission=0.001)
    data = cb.add_data(feed)
    fast = cb.add_indicator(sb.ind.sma, data["close"], window=10)
    slow = cb.add_indicator(sb.ind.sma, data["close"], window=30)
    cb.add_strat(cb.add_indicator(sb.sig.cross, fast, slow), sb.alloc.all_in(), name="s")
    return cb.run(mode=mode, micro_batch=40) if mode == "stream" else cb.run(), slow


def test_warmup_bars_feed_indicators_but_trade_nothing(bars: pd.DataFrame) -> None:
    start = bars["ts"].iloc[300]
    res, slow = _run(sb.feeds.from_pandas(bars, symbol="X", start=start, warmup=30))
    factors = res.factors.to_pandas()
    assert factors["ts"].iloc[0] == bars["ts"].iloc[270]  # 30 warm-up bars before the start
    assert not np.isnan(res.values(slow)[29])  # the slow SMA is ready on the start bar
    assert pc.min(res.equity.column("ts")).as_py() == start.to_pydatetime()
    assert pc.min(res.fills.column("ts")).as_py() > start.to_pydatetime()
    assert pc.min(res.orders.column("created_ts")).as_py() >= start.to_pydatetime()
    assert res.metrics.column("start")[0].as_py() == start.to_pydatetime()
    stream, _ = _run(sb.feeds.from_pandas(bars, symbol="X", start=start, warmup=30), mode="stream")
    assert stream.trades.equals(res.trades) and stream.equity.equals(res.equity)


def test_without_warmup_the_same_start_trades_later(bars: pd.DataFrame) -> None:
    start = bars["ts"].iloc[300]
    warm, _ = _run(sb.feeds.from_pandas(bars, symbol="X", start=start, warmup=30))
    cold, slow_cold = _run(sb.feeds.from_pandas(bars, symbol="X", start=start))
    assert np.isnan(cold.values(slow_cold)[:29]).all()
    assert cold.equity.num_rows == warm.equity.num_rows == len(bars) - 300
