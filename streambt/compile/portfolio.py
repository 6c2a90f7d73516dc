"""Fold the strategies of a run into one :class:`~streambt.ops.portfolio.Portfolio` node.

``cb.add_strat`` and ``cb.add_strategy`` declare one simulation node per
strategy. A run that uses the portfolio broker (ADR 0005) replaces them, before
any sweep expansion, with a single node that reads every strategy's inputs: a
sweep then gives each cell its own portfolio, with its own capital.

Examples
--------
>>> import streambt as sb
>>> cb = sb.Cerebro()
>>> data = cb.add_data(sb.feeds.synthetic("X", bars=50))
>>> pulse = cb.add_indicator(sb.sig.cross, cb.add_indicator(sb.ind.sma, data["close"], window=3),
...                          cb.add_indicator(sb.ind.sma, data["close"], window=9))
>>> _ = cb.add_strat(pulse, sb.alloc.all_in(), name="a", stop_loss=0.05)
>>> [n.op.short for n in fold(cb.graph, list(cb._strategies.values()), {"cash": 1e4},
...                           {}, None).of_kind(sb.ops.base.OpKind.SIMULATION)]
['portfolio']
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ..graph import ColumnKey, Graph, Node
from ..ops.base import OpKind
from ..ops.portfolio import (
    DEFAULT_NAME,
    PULSE_FIELDS,
    EventStrategy,
    Portfolio,
    PulseStrategy,
)
from ..ops.strategy import SignalStrategy

#: simulation ops that only the portfolio broker can run (their presence selects it)
PORTFOLIO_ONLY = (PulseStrategy, EventStrategy)


def needs_portfolio(graph: Graph) -> bool:
    """Whether ``graph`` declares a strategy that only the portfolio broker runs."""
    return any(n.op in PORTFOLIO_ONLY for n in graph.of_kind(OpKind.SIMULATION))


def fold(
    graph: Graph,
    strategies: Sequence[str],
    portfolio: Mapping[str, Any],
    broker: Mapping[str, Any],
    instruments: Mapping[str, Any] | None,
    name: str = DEFAULT_NAME,
) -> Graph:
    """``graph`` with the simulation nodes ``strategies`` (ids, in order) as one Portfolio node."""
    out = Graph()
    for node in graph.nodes():
        if node.kind is not OpKind.SIMULATION:
            out.add(node)
    inputs: dict[str, ColumnKey] = {}
    entries: list[dict[str, Any]] = []
    first_data: str | None = None
    call = ""
    for k, node_id in enumerate(strategies):
        node = graph.node(node_id)
        p = node.param_dict
        ins = dict(node.inputs)
        data = ins["open"].node_id
        first_data = first_data or data
        call = call or node.call
        entry: dict[str, Any] = {"name": p["name"], "start": p["start"], "data": data}
        if node.op is SignalStrategy:
            entry["sizer"] = p["allocation"]
            inputs[f"signal_{k}"] = ins["signal"]
        elif node.op is PulseStrategy:
            entry.update({f: p[f] for f in PULSE_FIELDS})
            inputs[f"signal_{k}"] = ins["signal"]
            if "atr" in ins:
                inputs[f"atr_{k}"] = ins["atr"]
        else:
            assert node.op is EventStrategy
            columns = sorted(role[len("col_") :] for role in ins if role.startswith("col_"))
            entry.update(
                style="event",
                weight=p["weight"],
                symbols=p["symbols"],
                strategy_class=p["strategy_class"],
                kwargs=p["kwargs"] or {},
                columns=columns,
            )
            for column in columns:
                inputs[f"col_{k}_{column}"] = ins[f"col_{column}"]
        entries.append(entry)
    assert first_data is not None, "fold needs at least one strategy"
    for f in Portfolio.data_fields:
        inputs[f] = ColumnKey(first_data, f)
    params = Portfolio.validate(
        {
            "name": name,
            "strategies": entries,
            "portfolio": dict(portfolio),
            "broker": dict(broker),
            "instruments": None if instruments is None else dict(instruments),
        },
        f"portfolio {name!r}",
    )
    labels = {f: f for f in Portfolio.data_fields}
    out.add(Node.build(Portfolio, inputs, params, labels, call))
    return out
