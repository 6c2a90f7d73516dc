"""Bad portfolio declarations: each error names the call, the value and the fix."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

import streambt as sb


def _cerebro() -> tuple[sb.Cerebro, sb.Ref, sb.Ref]:
    cb = sb.Cerebro(cash=10_000)
    data = cb.add_data(sb.feeds.synthetic("X", bars=80))
    pulse = cb.add_indicator(
        sb.sig.cross,
        cb.add_indicator(sb.ind.sma, data["close"], window=3),
        cb.add_indicator(sb.ind.sma, data["close"], window=9),
    )
    return cb, data, pulse


class Good(sb.Strategy):
    def __init__(self, size: int = 1) -> None:
        self.size = size


def _declare(call: Callable[[sb.Cerebro, sb.Ref, sb.Ref], Any]) -> None:
    cb, data, pulse = _cerebro()
    call(cb, data, pulse)
    cb.run()


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (
            lambda cb, d, p: cb.add_strat(p, sb.alloc.all_in(), stop_loss=1.5),
            sb.InvalidParameterError,
            r"stop_loss must be None or a fraction in \(0, 1\).*stop_loss=0.02",
        ),
        (
            lambda cb, d, p: cb.add_strat(p, sb.alloc.all_in(), trailing_stop=-0.1),
            sb.InvalidParameterError,
            r"trailing_stop must be None or a fraction",
        ),
        (
            lambda cb, d, p: cb.add_strat(p, sb.alloc.all_in(), weight=0),
            sb.InvalidParameterError,
            r"weight must be a positive number",
        ),
        (
            lambda cb, d, p: cb.add_strat(p, sb.sizers.risk(0.01)),
            sb.InvalidParameterError,
            r"risk sizer needs a stop_loss.*stop_loss=0.02",
        ),
        (
            lambda cb, d, p: cb.add_strat(p, sb.alloc.all_in(), entry="limt"),
            sb.InvalidParameterError,
            r"entry must be one of .*limit",
        ),
        (
            lambda cb, d, p: cb.add_strat(p, sb.alloc.all_in(), tif="IOC"),
            sb.InvalidParameterError,
            r"tif must be 'GTC' or 'DAY'",
        ),
        (
            lambda cb, d, p: cb.add_strat(p, sb.alloc.all_in(), symbols=["Y"]),
            sb.InvalidParameterError,
            r"symbols \['Y'\] are not in its feed, which has \['X'\]",
        ),
        (
            lambda cb, d, p: cb.add_strat(p, 0.5),
            sb.InvalidInputError,
            r"allocation must come from sb.alloc .* or sb.sizers",
        ),
        (
            lambda cb, d, p: cb.broker(priority="first"),
            sb.InvalidParameterError,
            r"priority must be 'stop_first' or 'target_first'",
        ),
        (
            lambda cb, d, p: cb.broker(margin={"leverage": 0.5}),
            sb.InvalidParameterError,
            r"margin takes leverage \(a number >= 1\)",
        ),
        (
            lambda cb, d, p: cb.portfolio(cash=-1),
            sb.InvalidParameterError,
            r"cash must be a positive finite number",
        ),
        (
            lambda cb, d, p: cb.portfolio(instruments={"X": sb.Instrument(lot_size=0)}),
            sb.InvalidParameterError,
            r"lot_size must be a finite number > 0",
        ),
        (
            lambda cb, d, p: (
                cb.add_strat(p, sb.alloc.all_in(), name="a"),
                cb.portfolio(instruments={"Q": sb.Instrument()}),
            ),
            sb.InvalidParameterError,
            r"unknown symbol\(s\) \['Q'\]",
        ),
        (
            lambda cb, d, p: cb.add_strat(p, sb.alloc.all_in(), name="portfolio", stop_loss=0.1),
            sb.InvalidParameterError,
            r"a strategy has the portfolio's name; rename one",
        ),
        (
            lambda cb, d, p: cb.add_strategy(Good(), d),
            sb.InvalidInputError,
            r"pass a subclass of sb.Strategy \(the class, not an instance\)",
        ),
        (
            lambda cb, d, p: cb.add_strategy(Good, d, sizes=3),
            sb.InvalidParameterError,
            r"Good\(\*\*params\) failed: .*unexpected keyword argument 'sizes'",
        ),
        (
            lambda cb, d, p: cb.add_strategy(Good, p),
            sb.InvalidInputError,
            r"data must be the ref returned by cb.add_data",
        ),
        (
            lambda cb, d, p: cb.add_strategy(Good, d, columns={"bad name": p}),
            sb.InvalidInputError,
            r"column names must be identifiers",
        ),
        (
            lambda cb, d, p: cb.add_strategy(Good, d, tag=object()),
            sb.InvalidInputError,
            r"cannot be part of a node id",
        ),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_bad_portfolio_declarations(
    call: Callable[[sb.Cerebro, sb.Ref, sb.Ref], Any], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        _declare(call)


def test_portfolio_runs_are_refused_clearly_where_not_hosted() -> None:
    cb, _, pulse = _cerebro()
    cb.add_strat(pulse, sb.alloc.all_in(), stop_loss=0.05)
    from streambt.backends.base import Backend

    class NoPortfolio(Backend):
        name = "noportfolio"

        def support(self, op, mode):
            raise AssertionError("not reached")

        def run(self, cerebro, plan):
            raise AssertionError("not reached")

    with cb._concrete(), pytest.raises(sb.UnsupportedError, match="does not host the portfolio"):
        cb._plan(NoPortfolio(), "batch")


def test_a_columns_ref_from_another_feed_is_refused() -> None:
    cb, data, _ = _cerebro()
    other = cb.add_data(sb.feeds.synthetic("Y", bars=80, seed=2))
    sma = cb.add_indicator(sb.ind.sma, other["close"], window=3)
    with pytest.raises(sb.GraphError, match="every column must derive from the strategy's data"):
        cb.add_strategy(Good, data, columns={"sma": sma})


def test_a_failed_declaration_leaves_the_graph_as_it_was() -> None:
    cb, _, pulse = _cerebro()
    before = len(cb.graph)
    with pytest.raises(sb.InvalidParameterError):
        cb.add_strat(pulse, sb.alloc.all_in(), stop_loss=2.0)
    assert len(cb.graph) == before and not cb.uses_portfolio()
    assert cb.run().trades.num_rows >= 0


def test_a_strategy_class_without_source_is_refused() -> None:
    cb, data, _ = _cerebro()
    made = type("Made", (sb.Strategy,), {})  # no source file: its id could not follow edits
    with pytest.raises(sb.InvalidInputError, match="Python cannot find it"):
        cb.add_strategy(made, data)
