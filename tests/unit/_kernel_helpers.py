"""Shared pieces of the kernel tests: inputs, chunked feeding, and the case table.

Run as a script (``python _kernel_helpers.py OUT_DIR``) it saves every case's
output to OUT_DIR; the compiled-vs-interpreted test runs it that way in a
subprocess with ``STREAMBT_DISABLE_JIT=1``.
"""

from __future__ import annotations

import itertools
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from streambt.kernels import KERNELS, Kernel, dumps_state, loads_state

# (case id, op name, params): one row per kernel configuration under test
KERNEL_CASES: list[tuple[str, str, dict[str, Any]]] = [
    ("sma10", "SimpleMovingAverage", {"window": 10}),
    ("sma1", "SimpleMovingAverage", {"window": 1}),
    ("ema10", "ExponentialMovingAverage", {"window": 10}),
    ("ema1", "ExponentialMovingAverage", {"window": 1}),
    ("rsi14", "RelativeStrengthIndex", {"window": 14}),
    ("rsi2", "RelativeStrengthIndex", {"window": 2}),
    ("stddev20", "StandardDeviation", {"window": 20}),
    ("stddev5x2", "StandardDeviation", {"window": 5, "nbdev": 2.0}),
    ("lag3", "Lag", {"periods": 3}),
    ("cross", "Cross", {}),
]


def make_kernel(op: str, params: Mapping[str, Any]) -> Kernel:
    return KERNELS[op](**params)


def random_walk(n: int = 5000, seed: int = 7, gap_every: int = 50) -> np.ndarray:
    """Prices of a geometric random walk with a +-10% gap about every ``gap_every`` bars."""
    rng = np.random.default_rng(seed)
    log_ret = rng.normal(0.0, 0.015, n)
    gaps = rng.random(n) < 1.0 / gap_every
    log_ret[gaps] += np.log(rng.choice([0.9, 1.1], size=int(gaps.sum())))
    return 100.0 * np.exp(np.cumsum(log_ret))


def goog_close() -> np.ndarray:
    from backtesting.test import GOOG

    return GOOG["Close"].to_numpy(dtype=np.float64)


def with_nans(x: np.ndarray, leading: int = 5, inside: Sequence[int] = ()) -> np.ndarray:
    """A copy of ``x`` with ``leading`` NaNs in front and NaNs at the ``inside`` rows."""
    y = x.copy()
    y[:leading] = np.nan
    y[list(inside)] = np.nan
    return y


def moving_mean(x: np.ndarray, window: int) -> np.ndarray:
    out = np.full(x.shape, np.nan)
    out[window - 1 :] = sliding_window_view(x, window).mean(axis=1)
    return out


def make_cols(kernel: Kernel, x: np.ndarray) -> dict[str, np.ndarray]:
    """Input columns for ``kernel`` derived from one series ``x``."""
    if kernel.inputs == ("x",):
        return {"x": x}
    if kernel.inputs == ("a", "b"):
        # prices on a 0.5 grid so that ties (which kill a cross) happen
        return {"a": np.round(x * 2) / 2, "b": np.round(moving_mean(x, 10) * 2) / 2}
    raise AssertionError(f"no input recipe for {type(kernel).__name__}{kernel.inputs}")


def feed(
    kernel: Kernel,
    cols: Mapping[str, np.ndarray],
    bounds: Sequence[int] = (),
    roundtrip: bool = False,
) -> dict[str, np.ndarray]:
    """Feed ``cols`` in chunks split at ``bounds``; concatenate the outputs.

    With ``roundtrip`` the state goes through dumps_state/loads_state
    between chunks, as an engine's state store would do.
    """
    n = len(next(iter(cols.values())))
    edges = [0, *sorted({b for b in bounds if 0 < b < n}), n]
    state = kernel.init()
    parts: dict[str, list[np.ndarray]] = {name: [] for name in kernel.outputs}
    for lo, hi in itertools.pairwise(edges):
        state, out = kernel.step(state, {k: v[lo:hi] for k, v in cols.items()})
        for name in kernel.outputs:
            parts[name].append(out[name])
        if roundtrip:
            state = loads_state(dumps_state(state))
    return {
        name: np.concatenate(chunks) if chunks else np.empty(0) for name, chunks in parts.items()
    }


def random_bounds(n: int, rng: np.random.Generator, max_chunk: int = 200) -> list[int]:
    """Split points of ``range(n)`` into chunks of random size in [1, max_chunk]."""
    cuts: list[int] = []
    at = 0
    while at < n:
        at += int(rng.integers(1, max_chunk + 1))
        cuts.append(at)
    return cuts


def dump_outputs(out_dir: Path) -> None:
    """Save every case's output on a fixed input as ``<case id>.npy`` in ``out_dir``."""
    from streambt.kernels._jit import JIT_DISABLED

    out_dir.mkdir(parents=True, exist_ok=True)
    x = with_nans(random_walk(3000, seed=11), inside=(1200,))
    for case_id, op, params in KERNEL_CASES:
        kernel = make_kernel(op, params)
        np.save(out_dir / f"{case_id}.npy", feed(kernel, make_cols(kernel, x))["value"])
    (out_dir / "jit_disabled.txt").write_text(str(JIT_DISABLED))


if __name__ == "__main__":
    dump_outputs(Path(sys.argv[1]))
