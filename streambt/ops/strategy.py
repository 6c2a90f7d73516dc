"""The simulation op: a signal plus an allocation, run through the broker kernel."""

from __future__ import annotations

from .base import Op, OpKind, Param, non_negative_number, positive_number


def strategy_name(value: object) -> str | None:
    """Check of a strategy's ``name`` parameter."""
    if not isinstance(value, str) or not value.strip():
        return "must be a non-empty string"
    return None


def feed_start(value: object) -> str | None:
    """Check of the internal ``start`` parameter (a feed's start, microseconds)."""
    if value is None or (isinstance(value, int) and not isinstance(value, bool)):
        return None
    return "must be None or microseconds since the epoch"


def _allocation(value: object) -> str | None:
    if not isinstance(value, dict) or value.get("allocation") not in {
        "all_in",
        "fixed",
        "target_percent",
    }:
        return "must be an allocation from sb.alloc (all_in, fixed, target_percent)"
    return None


class SignalStrategy(Op):
    """Trades the sign of ``signal`` with an allocation (pulse + allocation style).

    Decision at a bar's close, market fill at the next bar's open; see
    ``docs/simulator.md`` for every rule.
    """

    kind = OpKind.SIMULATION
    short = "strat"
    inputs = ("signal",)
    data_fields = ("open", "high", "low", "close")
    outputs = ("cash", "position", "equity")
    label_params = ("name",)
    params = (
        Param("name", strategy_name, fix='pass name="my_strategy"'),
        Param("cash", positive_number, fix="pass a positive starting cash, e.g. cash=10_000"),
        Param(
            "commission",
            non_negative_number,
            default=0.0,
            fix="pass a fraction such as 0.001 (0.1 %)",
        ),
        Param(
            "start",
            feed_start,
            default=None,
            fix="internal: the feed's start (warm-up bars come before it)",
        ),
        Param(
            "allocation",
            _allocation,
            fix="pass sb.alloc.all_in(), sb.alloc.fixed(10) or sb.alloc.target_percent(0.5)",
        ),
    )
