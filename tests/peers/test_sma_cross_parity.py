"""SMA 10/30 cross, all-in: streambt's trades equal backtesting.py's and backtrader's on GOOG."""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
import pandas as pd
import pytest

from .peer_runs import (
    TRADE_COLUMNS,
    SmaCross,
    assert_same_trades,
    goog,
    run_backtesting_py,
    run_backtrader,
    run_streambt,
    sma,
    streambt_trades,
    strict_cross,
    to_streambt_frame,
)

pytestmark = pytest.mark.peers

VARIANTS = pytest.mark.parametrize("long_only", [True, False], ids=["long_only", "long_short"])


@functools.cache
def _peer(name: str, long_only: bool) -> pd.DataFrame:
    run = {"backtesting.py": run_backtesting_py, "backtrader": run_backtrader}[name]
    return run(goog(), SmaCross(long_only=long_only))


@functools.cache
def _streambt_result(long_only: bool) -> Any:
    return run_streambt(to_streambt_frame(goog()), SmaCross(long_only=long_only), symbol="GOOG")


def _streambt(long_only: bool) -> pd.DataFrame:
    return streambt_trades(_streambt_result(long_only))


def test_backtesting_py_crossover_is_the_strict_cross() -> None:
    from backtesting.lib import crossover

    close = goog()["Close"].to_numpy()
    # GOOG's SMAs, plus hand-made series with ties (touch-and-go is not a cross).
    cases = [
        (sma(close, 10), sma(close, 30)),
        (np.array([1.0, 2.0, 2.0, 3.0, 2.0, 1.0, 2.0]), np.full(7, 2.0)),
        (np.array([np.nan, 1.0, 3.0, 1.0, np.nan, 3.0]), np.full(6, 2.0)),
    ]
    for a, b in cases:
        theirs = [
            1
            if crossover(a[: i + 1], b[: i + 1])
            else -1
            if crossover(b[: i + 1], a[: i + 1])
            else 0
            for i in range(len(a))
        ]
        np.testing.assert_array_equal(theirs, strict_cross(a, b))
    assert strict_cross(*cases[1]).tolist() == [0, 0, 0, 0, 0, 0, 0]
    assert strict_cross(*cases[2]).tolist() == [0, 0, 1, -1, 0, 0]


def test_goog_has_no_sma_ties() -> None:
    # A tie would make the strict cross skip a signal; the peers would still agree, but the
    # test would no longer exercise alternating signals only.
    close = goog()["Close"].to_numpy()
    fast, slow = sma(close, 10), sma(close, 30)
    assert not np.any(fast == slow)


@VARIANTS
def test_backtesting_py_equals_backtrader(long_only: bool) -> None:
    btpy, bt = _peer("backtesting.py", long_only), _peer("backtrader", long_only)
    assert len(btpy) >= 30
    if long_only:
        assert (btpy["side"] == 1).all()
    else:
        assert set(btpy["side"]) == {1, -1}
        # Close-and-reverse: every exit is the next trade's entry.
        assert (btpy["exit_ts"].iloc[:-1].to_numpy() == btpy["entry_ts"].iloc[1:].to_numpy()).all()
    assert_same_trades(btpy, bt, names=("backtesting.py", "backtrader"))


@VARIANTS
@pytest.mark.parametrize("peer", ["backtesting.py", "backtrader"])
def test_streambt_equals_peer(peer: str, long_only: bool) -> None:
    assert_same_trades(_streambt(long_only), _peer(peer, long_only), names=("streambt", peer))


@VARIANTS
def test_streambt_trades_table(long_only: bool) -> None:
    trades = _streambt_result(long_only).trades.to_pandas()
    assert {"strategy", "symbol", *TRADE_COLUMNS, "bars_held"} <= set(trades.columns)
    assert set(trades["strategy"]) == {"sma_cross"}
    assert set(trades["symbol"]) == {"GOOG"}
    # bars_held counts bars from the entry fill to the exit fill, as backtesting.py's
    # ExitBar - EntryBar and backtrader's Trade.barlen do.
    index = pd.DatetimeIndex(to_streambt_frame(goog())["ts"])
    entry = index.get_indexer(pd.DatetimeIndex(trades["entry_ts"]))
    exit_ = index.get_indexer(pd.DatetimeIndex(trades["exit_ts"]))
    assert (entry >= 0).all() and (exit_ >= 0).all()
    np.testing.assert_array_equal(trades["bars_held"].to_numpy(), exit_ - entry)
