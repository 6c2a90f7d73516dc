"""The portfolio simulation op: every strategy of a run sharing one broker and one capital.

A run whose strategies use the broker's order book (stop-loss, take-profit,
trailing stops, sizers, weights, entry order types, ``cb.broker``,
``cb.portfolio`` or an event-style ``cb.add_strategy``) compiles all its
strategies into one :class:`Portfolio` node (ADR 0005). Its inputs are each
pulse strategy's ``signal_<k>`` (and ``atr_<k>`` for volatility sizing), each
event strategy's extra columns ``col_<k>_<name>``, and the bar fields. Its
parameters are plain data -- strategy specs, portfolio limits, broker models,
instruments -- so the node id changes with any of them.

Event-style strategy classes are Python objects: a node holds their identity
(qualified name + a hash of the class source) and the class itself is kept in
:data:`STRATEGY_CLASSES` for the host.

Examples
--------
>>> Portfolio.strategy_names({"name": "p", "strategies": [{"name": "a"}, {"name": "b"}]})
['a', 'b', 'p']
"""

from __future__ import annotations

import math
import threading
from collections.abc import Mapping
from typing import Any

from ..errors import GraphError, InvalidInputError, InvalidParameterError
from ..graph.ids import canonical, digest
from ..graph.params import SweepParam
from ..metrics.keys import ALL_SYMBOLS  # noqa: F401  (the symbol of multi-symbol rows)
from .base import Op, OpKind, Param
from .strategy import feed_start, strategy_name
from .user import normalized_source

#: strategy identity -> the event-style Strategy class (filled by ``cb.add_strategy``)
STRATEGY_CLASSES: dict[str, type] = {}
_lock = threading.Lock()

#: keys of a strategy entry that are not StrategySpec fields
HOST_KEYS = ("data", "start", "strategy_class", "kwargs", "columns")
#: the portfolio's own equity and net-position rows use this strategy name by default
DEFAULT_NAME = "portfolio"


def has_sweep(value: Any) -> bool:
    """Whether ``value`` holds a :class:`SweepParam` anywhere (checked once a sweep fills it)."""
    if isinstance(value, SweepParam):
        return True
    if isinstance(value, Mapping):
        return any(has_sweep(v) for v in value.values())
    if isinstance(value, list | tuple):
        return any(has_sweep(v) for v in value)
    return False


def register_strategy_class(cls: Any, what: str) -> str:
    """Keep ``cls`` (a ``sb.Strategy`` subclass) for the host; return its identity.

    The identity is the qualified name plus a hash of the class source, so
    editing the class gives new node ids and the same class twice the same.
    """
    from ..sim.strategy import Strategy

    if not (isinstance(cls, type) and issubclass(cls, Strategy)) or cls is Strategy:
        raise InvalidInputError(
            f"{what}: pass a subclass of sb.Strategy (the class, not an instance), got {cls!r}"
        )
    source = normalized_source(cls, what)
    identity = f"{cls.__qualname__}:{digest({'source': source})[:16]}"
    with _lock:
        STRATEGY_CLASSES[identity] = cls
    return identity


def _strategies(value: object) -> str | None:
    if not isinstance(value, list) or not value:
        return "must be a non-empty list of strategy specs"
    names = [s.get("name") for s in value if isinstance(s, Mapping)]
    if len(names) != len(value):
        return "must hold one dict per strategy"
    if len(set(names)) != len(names):
        return f"must have distinct strategy names, got {names}"
    return None


def _mapping(value: object) -> str | None:
    return None if value is None or isinstance(value, Mapping) else "must be a dict"


def _instruments(value: object) -> str | None:
    return None if value is None or isinstance(value, Mapping) else "must be None or a dict"


class Portfolio(Op):
    """All strategies of a run over one broker kernel (:class:`streambt.sim.PortfolioKernel`).

    Inputs are named per strategy (``signal_<k>``, ``atr_<k>``, ``col_<k>_<name>``)
    plus the bar fields, so the class declares no fixed input roles.
    """

    kind = OpKind.SIMULATION
    short = "portfolio"
    inputs = ()
    data_fields = ("open", "high", "low", "close", "volume")
    outputs = ("cash", "equity")
    label_params = ("name",)
    params = (
        Param("name", strategy_name, default=DEFAULT_NAME, fix='pass name="my_portfolio"'),
        Param("strategies", _strategies, fix="add strategies with cb.add_strat or cb.add_strategy"),
        Param("portfolio", _mapping, fix="set it with cb.portfolio(...)"),
        Param("broker", _mapping, fix="set it with cb.broker(...)"),
        Param("instruments", _instruments, default=None, fix="cb.portfolio(instruments={...})"),
    )

    @classmethod
    def validate(cls, given: Mapping[str, Any], call: str) -> dict[str, Any]:
        out = super().validate(given, call)
        if not has_sweep(out):
            specs(out)  # every spec checked now, with the messages of the sim package
        return out

    @classmethod
    def strategy_names(cls, params: Mapping[str, Any]) -> list[str]:
        """The strategies' names, then the portfolio's (its rows in ``equity`` and ``metrics``)."""
        return [*(s["name"] for s in params["strategies"]), params["name"]]

    @classmethod
    def in_cell(cls, params: Mapping[str, Any], label: str) -> dict[str, Any]:
        out = dict(params)
        out["name"] = f"{params['name']}[{label}]"
        out["strategies"] = [{**s, "name": f"{s['name']}[{label}]"} for s in params["strategies"]]
        return out


def _any(value: object) -> str | None:
    return None  # checked as a whole by StrategySpec in validate


#: StrategySpec fields a pulse strategy declares (cb.add_strat), with their defaults
PULSE_FIELDS: dict[str, Any] = {
    "sizer": None,
    "weight": 1.0,
    "long_only": None,
    "stop_loss": None,
    "take_profit": None,
    "trailing_stop": None,
    "entry": "market",
    "entry_offset": 0.0,
    "tif": "GTC",
    "symbols": None,
}


def _check_spec(params: Mapping[str, Any], call: str, style: str) -> None:
    from ..sim.portfolio import StrategySpec

    fields = {k: v for k, v in params.items() if k in PULSE_FIELDS or k == "name"}
    if fields.get("sizer") is None:
        fields.pop("sizer", None)
    try:
        StrategySpec(**fields, style=style)
    except InvalidParameterError as err:
        raise InvalidParameterError(f"{call}: {err}") from None


class PulseStrategy(Op):
    """A pulse strategy trading through the portfolio broker: brackets, sizers, weights.

    ``cb.add_strat(signal, sizer_or_allocation, stop_loss=..., ...)`` declares
    it; a run folds every strategy into one :class:`Portfolio` node.
    """

    kind = OpKind.SIMULATION
    short = "strat"
    inputs = ("signal", "atr")
    data_fields = ("open", "high", "low", "close")
    outputs = ("cash", "position", "equity")
    label_params = ("name",)
    params = (
        Param("name", strategy_name, fix='pass name="my_strategy"'),
        Param("start", feed_start, default=None, fix="internal: the feed's start"),
        *(Param(field, _any, default=default) for field, default in PULSE_FIELDS.items()),
    )

    @classmethod
    def validate(cls, given: Mapping[str, Any], call: str) -> dict[str, Any]:
        out = super().validate(given, call)
        if out["sizer"] is None:
            raise InvalidParameterError(
                f"{call}: pass a sizer (sb.sizers.risk(0.01), ...) or an allocation "
                "(sb.alloc.all_in(), ...)"
            )
        if not has_sweep(out):
            _check_spec(out, call, "pulse")
        return out


class EventStrategy(Op):
    """An event-style ``sb.Strategy`` subclass (``cb.add_strategy``), run by the portfolio host.

    Inputs are the extra columns the strategy reads from ``bar`` (``col_<name>``).
    """

    kind = OpKind.SIMULATION
    short = "strategy"
    inputs = ()
    data_fields = ("open", "high", "low", "close")
    outputs = ("cash", "position", "equity")
    label_params = ("name",)
    params = (
        Param("name", strategy_name, fix='pass name="my_strategy"'),
        Param("strategy_class", strategy_name, fix="internal: the class identity"),
        Param("kwargs", _mapping, default=None, fix="pass the strategy's parameters as keywords"),
        Param("start", feed_start, default=None, fix="internal: the feed's start"),
        Param("weight", _any, default=1.0),
        Param("symbols", _any, default=None),
    )

    @classmethod
    def validate(cls, given: Mapping[str, Any], call: str) -> dict[str, Any]:
        out = super().validate(given, call)
        if not has_sweep(out):
            _check_spec(
                {"name": out["name"], "weight": out["weight"], "symbols": out["symbols"]},
                call,
                "event",
            )
        return out


def specs(params: Mapping[str, Any]) -> tuple[list[Any], Any, Any]:
    """The validated (StrategySpec list, PortfolioSpec, BrokerSpec) of a Portfolio node."""
    from ..sim.portfolio import BrokerSpec, PortfolioSpec, StrategySpec

    strategies = []
    for entry in params["strategies"]:
        fields = {k: v for k, v in entry.items() if k not in HOST_KEYS}
        try:
            strategies.append(StrategySpec(**fields))
        except TypeError as err:
            raise InvalidParameterError(f"strategy {entry.get('name')!r}: {err}") from None
    if params["name"] in {s.name for s in strategies}:
        raise InvalidParameterError(
            f"portfolio {params['name']!r}: a strategy has the portfolio's name; rename one "
            "(the portfolio's own equity rows use its name)"
        )
    return strategies, PortfolioSpec(**params["portfolio"]), BrokerSpec(**params["broker"])


def starting_cash(params: Mapping[str, Any]) -> dict[str, float]:
    """Starting cash of the portfolio and of each strategy (its weight's share), by name."""
    cash = float(params["portfolio"]["cash"])
    weights = [float(s.get("weight", 1.0)) for s in params["strategies"]]
    total = math.fsum(weights)
    out = {params["name"]: cash}
    for s, w in zip(params["strategies"], weights, strict=True):
        out[s["name"]] = cash * w / total
    return out


def plain(value: Any, what: str) -> Any:
    """``value`` if it can be part of a node id (numbers, strings, lists, dicts), else an error."""
    try:
        canonical(value)
    except GraphError:
        raise InvalidInputError(
            f"{what}: {value!r} cannot be part of a node id; pass numbers, strings, booleans, "
            "lists or dicts of them"
        ) from None
    return value
