"""Fixtures of the data-layer tests: bar files and a real PostgreSQL server."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pandas as pd
import pytest

import streambt as sb

from .postgres_server import INSTALL, PostgresServer, find_bin_dir


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """URL of a PostgreSQL server started for this test session on 127.0.0.1."""
    bin_dir = find_bin_dir()
    if bin_dir is None:
        reason = f"PostgreSQL server binaries (initdb, pg_ctl) not found; install them: {INSTALL}"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    server = PostgresServer(bin_dir)
    try:
        server.start()
        yield server.url
    finally:
        server.stop()


def hourly_bars(symbols: tuple[str, ...] = ("AAA", "BBB", "CCC"), days: int = 5) -> pd.DataFrame:
    """Long-format hourly bars: ``days`` x 24 bars for each symbol, from 2024-01-01 UTC."""
    frames = []
    for i, s in enumerate(symbols):
        df = sb.feeds.synthetic_bars(24 * days, seed=11 + i, start="2024-01-01", interval="1h")
        frames.append(df.assign(symbol=s))
    return pd.concat(frames, ignore_index=True)[
        ["symbol", "ts", "open", "high", "low", "close", "volume"]
    ]


@pytest.fixture
def hourly() -> pd.DataFrame:
    return hourly_bars()
