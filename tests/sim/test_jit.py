"""The numba-compiled kernel equals the same source run as plain Python (STREAMBT_DISABLE_JIT=1).

One realistic run: GOOG and a synthetic second symbol, three pulse strategies
(brackets with a trailing stop, limit entries, a risk sizer, a short side),
tiered fees, bps slippage, a volume limit, margin with a maintenance level and
a gross-exposure limit, fed in three chunks. Run as a script
(``python -m tests.sim.test_jit OUT.npz``) it saves every output; the test runs
it that way in a subprocess with the JIT disabled and compares bit for bit.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from streambt.kernels import _jit
from streambt.sim import fees, sizers, slippage
from streambt.sim.portfolio import PortfolioKernel

from . import merge, run


def reference_run() -> dict[str, np.ndarray]:
    from backtesting.test import GOOG

    n = 1200
    g = GOOG.iloc[:n]
    ts = g.index.values.astype("datetime64[us]").astype(np.int64)
    rng = np.random.default_rng(11)
    parts = []
    for s, scale in ((0, 1.0), (1, 0.25)):
        o = g["Open"].to_numpy(np.float64) * scale * (1 + s * rng.normal(0, 0.01, n))
        c = g["Close"].to_numpy(np.float64) * scale
        part = {
            "ts": ts,
            "symbol": np.full(n, s, np.int64),
            "open": o,
            "high": np.maximum(g["High"].to_numpy(np.float64) * scale, np.maximum(o, c)),
            "low": np.minimum(g["Low"].to_numpy(np.float64) * scale, np.minimum(o, c)),
            "close": c,
            "volume": g["Volume"].to_numpy(np.float64) / 1000,
        }
        for k in range(3):
            part[f"signal_{k}"] = rng.choice(np.array([np.nan] * 8 + [1.0, -1.0]), n)
        parts.append(part)
    cols = merge(*parts)
    kernel = PortfolioKernel(
        symbols=["GOOG", "SYN"],
        portfolio={"cash": 100_000.0, "max_gross_exposure": 0.6, "rebalance_every": 50},
        broker={
            "fees": fees.tiers([(0, 0.001), (500_000, 0.0005)]),
            "slippage": slippage.bps(3),
            "volume_share": 0.5,
            "margin": {"leverage": 2.0, "maintenance": 0.3},
        },
        instruments={"SYN": {"lot_size": 10, "tick_size": 0.01}},
        strategies=[
            {
                "name": "trend",
                "sizer": sizers.percent_equity(0.4),
                "long_only": False,
                "stop_loss": 0.04,
                "take_profit": 0.08,
                "trailing_stop": 0.06,
            },
            {
                "name": "dip",
                "sizer": sizers.fixed(30),
                "entry": "limit",
                "entry_offset": 0.01,
                "take_profit": 0.03,
                "weight": 0.5,
            },
            {
                "name": "risk",
                "sizer": sizers.risk(0.02),
                "stop_loss": 0.05,
                "long_only": False,
                "entry": "stop",
                "entry_offset": 0.005,
                "symbols": ["SYN"],
            },
        ],
    )
    m = len(cols["ts"])
    rows, ev, state = run(kernel, cols, (m // 3, 2 * m // 3))
    out = {f"rows.{k}": v for k, v in rows.items()}
    out |= {f"{t}.{c}": v for t, table in ev.items() for c, v in table.items()}
    out |= {f"state.{k}": v for k, v in state.items()}
    return out


def test_compiled_equals_interpreted(tmp_path: Path) -> None:
    assert not _jit.JIT_DISABLED
    compiled = reference_run()
    assert len(compiled["trades.pnl"]) > 50 and (compiled["orders.reason"] == 16).any()
    out = tmp_path / "interpreted.npz"
    env = {**os.environ, "STREAMBT_DISABLE_JIT": "1"}
    root = Path(__file__).resolve().parents[2]
    subprocess.run(
        [sys.executable, "-m", "tests.sim.test_jit", str(out)],
        check=True,
        env=env,
        cwd=root,
        timeout=600,
    )
    interpreted = dict(np.load(out))
    assert interpreted.keys() == compiled.keys()
    for key, value in compiled.items():
        assert value.dtype == interpreted[key].dtype, key
        np.testing.assert_array_equal(value, interpreted[key], err_msg=key)


if __name__ == "__main__":
    assert _jit.JIT_DISABLED, "run with STREAMBT_DISABLE_JIT=1"
    np.savez(sys.argv[1], **reference_run())
