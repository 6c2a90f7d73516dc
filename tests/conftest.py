"""Shared fixtures: real daily bars (GOOG from backtesting.py's package) and generated bars."""

from __future__ import annotations

import pandas as pd
import pytest

import streambt as sb

from .helpers import goog_frame


@pytest.fixture(scope="session")
def goog() -> pd.DataFrame:
    return goog_frame()


@pytest.fixture(scope="session")
def bars() -> pd.DataFrame:
    """800 deterministic synthetic daily bars."""
    return sb.feeds.synthetic_bars(800, seed=3)
