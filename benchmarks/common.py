"""Shared pieces of the benchmarks: seeded synthetic bars, timing, machine description."""

from __future__ import annotations

import gc
import json
import os
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd


def synthetic_bars(
    n_bars: int,
    *,
    seed: int = 42,
    start: str = "2020-01-01",
    freq: str = "1min",
    price0: float = 100.0,
    vol_per_bar: float = 0.001,
    momentum: float = 0.68,
) -> pd.DataFrame:
    """One symbol of ``n_bars`` OHLCV bars: a seeded geometric random walk.

    Log-returns are AR(1), ``r[i] = momentum * r[i-1] + e[i]``, scaled so that
    their standard deviation is ``vol_per_bar``; ``momentum=0`` is the plain
    random walk. Some momentum keeps an SMA cross paying its fees on average:
    on a plain walk 0.2 % per round trip drains 10,000 of cash below one unit's
    price within ~150,000 bars and trading stops, which would leave most bars
    of a benchmark without orders. Each open gaps a little from the previous
    close, high/low lie outside open and close by a half-normal amount, volume
    is log-normal whole units. Columns: ``ts`` (UTC), open, high, low, close,
    volume.

    >>> synthetic_bars(3).columns.tolist()
    ['ts', 'open', 'high', 'low', 'close', 'volume']
    """
    if n_bars < 1:
        raise ValueError(f"synthetic_bars: n_bars must be a positive integer, got {n_bars}")
    if not 0.0 <= momentum < 1.0:
        raise ValueError(f"synthetic_bars: momentum must be in [0, 1), got {momentum}")
    # One stream per column: the first k bars are the same whatever n_bars is.
    r_ret, r_gap, r_high, r_low, r_vol = np.random.default_rng(seed).spawn(5)
    shocks = r_ret.normal(0.0, vol_per_bar * np.sqrt(1.0 - momentum**2), n_bars)
    close = price0 * np.exp(np.cumsum(_ar1(shocks, momentum)))
    prev_close = np.concatenate(([price0], close[:-1]))
    open_ = prev_close * np.exp(r_gap.normal(0.0, vol_per_bar / 4, n_bars))
    top = np.maximum(open_, close)
    bottom = np.minimum(open_, close)
    high = top * np.exp(np.abs(r_high.normal(0.0, vol_per_bar / 2, n_bars)))
    low = bottom * np.exp(-np.abs(r_low.normal(0.0, vol_per_bar / 2, n_bars)))
    volume = np.floor(r_vol.lognormal(mean=8.0, sigma=0.8, size=n_bars)) + 1.0
    ts = pd.date_range(start, periods=n_bars, freq=freq, tz="UTC")
    return pd.DataFrame(
        {"ts": ts, "open": open_, "high": high, "low": low, "close": close, "volume": volume}
    )


def _ar1(shocks: np.ndarray, phi: float) -> np.ndarray:
    if phi == 0.0:
        return shocks
    out = np.empty_like(shocks)
    prev = 0.0
    for i, e in enumerate(shocks.tolist()):
        prev = phi * prev + e
        out[i] = prev
    return out


@dataclass
class Timing:
    """Wall times of the timed runs (seconds) and the value the last run returned."""

    runs: list[float] = field(default_factory=list)
    value: Any = None

    @property
    def best(self) -> float:
        return min(self.runs)


def time_best_of(fn: Callable[[], Any], *, repeat: int = 3, warmup: int = 1) -> Timing:
    """Run ``fn`` ``warmup`` times untimed (JIT compile, caches), then best of ``repeat``."""
    timing = Timing()
    for _ in range(warmup):
        timing.value = fn()
    for _ in range(repeat):
        timing.value = None
        gc.collect()
        t0 = time.perf_counter()
        value = fn()
        timing.runs.append(time.perf_counter() - t0)
        timing.value = value
    return timing


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _ram_gib() -> float | None:
    try:
        with open("/proc/meminfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) / 2**20
    except OSError:
        pass
    return None


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


PACKAGES = (
    "streambt",
    "duckdb",
    "ibis-framework",
    "vectorbt",
    "backtrader",
    "numba",
    "numpy",
    "pandas",
    "pyarrow",
)


def machine_info() -> dict[str, Any]:
    """Cores, RAM, CPU model, OS, Python and the benchmarked packages' versions."""
    ram = _ram_gib()
    return {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "ram_gib": round(ram, 1) if ram is not None else None,
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "packages": {name: _version(name) for name in PACKAGES},
    }


def write_json(path: Path, report: dict[str, Any]) -> None:
    """Write a benchmark's numbers to ``path`` (folders created)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2, default=str) + "\n", encoding="utf-8")


def next_open_signals(cross: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Entries and exits for a peer that fills at the bar's own price: a cross decided at
    bar i's close (+1 up, -1 down) becomes a signal on bar i + 1, filled at its open."""
    entries = np.zeros(len(cross), dtype=bool)
    exits = np.zeros(len(cross), dtype=bool)
    entries[1:] = cross[:-1] == 1
    exits[1:] = cross[:-1] == -1
    return entries, exits


def vbt_all_in(fee: float, cash: float) -> dict[str, Any]:
    """vectorbt ``from_signals`` settings for streambt's all-in rule: long only, as many
    whole units as the cash buys, ``fee`` per fill, one-minute bars."""
    return {
        "direction": "longonly",
        "size": np.inf,
        "size_granularity": 1.0,
        "fees": fee,
        "init_cash": cash,
        "freq": "1min",
    }
