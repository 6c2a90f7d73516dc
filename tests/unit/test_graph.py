"""Node ids: canonical, stable across processes, deduplicated; column names from ids."""

from __future__ import annotations

import subprocess
import sys

import pytest

import streambt as sb
from streambt.graph.ids import canonical, digest

BUILD = """
import streambt as sb
cb = sb.Cerebro(cash=10_000, commission=0.001)
data = cb.add_data(sb.feeds.synthetic("DEMO", bars=50, seed=1))
fast = cb.add_indicator(sb.ind.sma, data["close"], window=10)
slow = cb.add_indicator(sb.ind.ema, data["close"], window=30)
pulse = cb.add_indicator(sb.sig.cross, fast, slow)
strat = cb.add_strat(pulse, sb.alloc.all_in(long_only=True), name="s")
print(fast.id, slow.id, pulse.id, strat.id, fast.column)
"""


def _ids_in_fresh_process(seed: str) -> str:
    env = {"PYTHONHASHSEED": seed}
    import os

    env.update({k: v for k, v in os.environ.items() if k != "PYTHONHASHSEED"})
    return subprocess.run(
        [sys.executable, "-c", BUILD], capture_output=True, text=True, check=True, env=env
    ).stdout


def test_ids_are_stable_across_processes_and_hash_seeds() -> None:
    a, b = _ids_in_fresh_process("1"), _ids_in_fresh_process("4242")
    assert a == b
    assert len(a.split()[0]) == 64


def test_canonical_encoding_has_one_spelling_per_meaning() -> None:
    assert canonical({"b": 1, "a": 2.0}) == canonical({"a": 2, "b": 1}) == '{"a":2,"b":1}'
    assert digest([1, 2]) == digest((1, 2))
    assert canonical(0.1) == '{"__float__":"0.1"}'
    with pytest.raises(sb.GraphError, match="stable id"):
        canonical(object())


def test_equal_node_returns_the_same_ref_and_graph_does_not_grow() -> None:
    cb = sb.Cerebro()
    data = cb.add_data(sb.feeds.synthetic("X", bars=50))
    a = cb.add_indicator(sb.ind.sma, data["close"], window=10)
    n = len(cb.graph)
    b = cb.add_indicator(sb.ind.sma, data["close"], window=10.0)
    assert a == b and a.id == b.id and len(cb.graph) == n
    c = cb.add_indicator(sb.ind.sma, data["close"], window=11)
    assert c.id != a.id and len(cb.graph) == n + 1


def test_input_roles_keep_order_significant() -> None:
    cb = sb.Cerebro()
    data = cb.add_data(sb.feeds.synthetic("X", bars=50))
    f = cb.add_indicator(sb.ind.sma, data["close"], window=5)
    s = cb.add_indicator(sb.ind.sma, data["close"], window=20)
    assert cb.add_indicator(sb.sig.cross, f, s).id != cb.add_indicator(sb.sig.cross, s, f).id


def test_column_names_are_readable_and_derived_from_the_id() -> None:
    cb = sb.Cerebro()
    data = cb.add_data(sb.feeds.synthetic("X", bars=50))
    f = cb.add_indicator(sb.ind.sma, data["close"], window=10)
    s = cb.add_indicator(sb.ind.sma, data["close"], window=30)
    x = cb.add_indicator(sb.sig.cross, f, s)
    assert f.column == f"sma_10__close__{f.id[:8]}"
    assert x.column == f"cross__sma_10_sma_30__{x.id[:8]}"
    assert data["close"].column == "close"


def test_two_strategies_share_indicator_nodes() -> None:
    cb = sb.Cerebro()
    data = cb.add_data(sb.feeds.synthetic("X", bars=50))
    for slow in (20, 30):
        f = cb.add_indicator(sb.ind.sma, data["close"], window=10)
        s = cb.add_indicator(sb.ind.sma, data["close"], window=slow)
        cb.add_strat(cb.add_indicator(sb.sig.cross, f, s), sb.alloc.all_in(), name=f"s{slow}")
    smas = [n for n in cb.graph.nodes() if n.op.short == "sma"]
    assert len(smas) == 3  # sma 10 once, sma 20, sma 30
    sma10 = next(n for n in smas if n.param_dict["window"] == 10)
    plan_text = cb.plan().explain()
    assert (
        sum(line.split()[0] == sma10.label for line in plan_text.splitlines() if line.strip()) == 1
    )
