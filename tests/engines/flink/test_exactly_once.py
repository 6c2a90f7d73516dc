"""Exactly once: a task dies mid-stream, Flink restarts it from the last checkpoint, and the
orders, fills and trades equal the batch run's, none lost, none written twice."""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import streambt as sb
from streambt.backends import flink

from ...parity.test_parity import assert_tables_equal


@sb.ind.recursive_indicator
class flaky_identity:
    """``x`` unchanged; fails once, when a symbol has seen ``after`` rows and a checkpoint has
    committed sink files in ``committed`` (``marker`` records the failure).

    After the restart, each symbol's first step appends the row count its
    restored state holds to ``marker.resumed``: a count above 0 means the
    state came back from a checkpoint, not from scratch.
    """

    @staticmethod
    def init() -> dict[str, float]:
        return {"rows": 0.0, "logged": 0.0}

    @staticmethod
    def step(
        state: dict[str, Any], x: float, *, marker: str = "", after: int = 0, committed: str = ""
    ) -> tuple[dict[str, float], float]:
        rows, logged = state["rows"] + 1, state["logged"]
        if marker:
            if os.path.exists(marker) and not logged:
                with open(marker + ".resumed", "a") as fh:
                    fh.write(f"{int(state['rows'])}\n")
                logged = 1.0
            if (
                rows > after
                and not os.path.exists(marker)
                and any(p.startswith("part") for p in os.listdir(committed))
            ):
                Path(marker).write_text(str(int(rows)))
                raise RuntimeError(f"injected failure after {int(rows) - 1} bars")
        return {"rows": rows, "logged": logged}, x if not math.isnan(x) else math.nan


def _graph(
    cb: sb.Cerebro, frame: pd.DataFrame, marker: str = "", after: int = 0, committed: str = ""
) -> None:
    d = cb.add_data(sb.feeds.from_pandas(frame))
    fast = cb.add_indicator(sb.ind.sma, d["close"], window=5)
    ema = cb.add_indicator(sb.ind.ema, d["close"], window=20)
    slow = cb.add_indicator(flaky_identity, ema, marker=marker, after=after, committed=committed)
    cb.add_strat(
        cb.add_indicator(sb.sig.cross, fast, slow), sb.alloc.all_in(long_only=False), name="x"
    )


@pytest.mark.parametrize("placement", ["relational", "kernels"])
def test_a_failure_mid_stream_loses_and_duplicates_nothing(
    flink_frame: pd.DataFrame, flink_env: object, tmp_path: Path, placement: str
) -> None:
    reference = sb.Cerebro(cash=10_000, commission=0.001)
    _graph(reference, flink_frame)
    want = reference.run()

    marker = tmp_path / "failed-once"
    out = tmp_path / "out"
    (out / "equity").mkdir(parents=True)
    cb = sb.Cerebro(cash=10_000, commission=0.001)
    # fail after 150 bars of a symbol, once a checkpoint has committed equity rows
    _graph(cb, flink_frame, str(marker), 150, str(out / "equity"))
    got = cb.run(
        backend="flink",
        mode="stream",
        source=flink.replay(rate=200),  # ~3.3 s of bars, checkpoints every 200 ms
        checkpoint_interval=200,
        restart_attempts=3,
        out=out,
        placement=placement,
    )
    assert marker.exists()  # the failure happened mid-stream
    failed_at = int(marker.read_text())
    assert 150 < failed_at < 400
    restored = [int(n) for n in (tmp_path / "failed-once.resumed").read_text().split()]
    assert 0 < max(restored) < failed_at  # the restart resumed from a checkpoint, not from scratch
    for table in ("orders", "fills", "trades", "equity"):
        assert_tables_equal(getattr(got, table), getattr(want, table), table)
    assert want.trades.num_rows > 5
