"""Op declarations: what a node computes, never how an engine runs it.

An :class:`Op` subclass is a frozen, typed description: its kind (which decides
where it can run), its input roles, its outputs and its parameters, validated
when a node is built. Engine code lives elsewhere and is found by name:
``visit_<Op>`` in ``compile.lowering.<family>`` and ``kernels.<Op>Kernel``.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from ..errors import InvalidParameterError
from ..graph.params import SweepParam

_REQUIRED = object()


class OpKind(enum.Enum):
    """How a node can run (DESIGN.md section 2)."""

    SOURCE = "source"
    #: a column of one timeframe placed on the rows of another (no look-ahead)
    ALIGN = "align"
    ELEMENTWISE = "elementwise"
    WINDOWED = "windowed"
    RECURSIVE = "recursive"
    SIMULATION = "simulation"


#: kinds whose nodes are indicator/signal columns of the factors table
INDICATOR_KINDS = (OpKind.ELEMENTWISE, OpKind.WINDOWED, OpKind.RECURSIVE)

Check = Callable[[Any], str | None]


def positive_int(value: Any) -> str | None:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not float(value).is_integer()
    ):
        return "must be a positive integer"
    return None if value >= 1 else "must be a positive integer"


def int_at_least(minimum: int) -> Check:
    def check(value: Any) -> str | None:
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not float(value).is_integer()
        ):
            return f"must be an integer >= {minimum}"
        return None if value >= minimum else f"must be an integer >= {minimum}"

    return check


def positive_number(value: Any) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return "must be a positive finite number"
    return None if value > 0 else "must be a positive finite number"


def non_negative_number(value: Any) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return "must be a finite number >= 0"
    return None if value >= 0 else "must be a finite number >= 0"


@dataclass(frozen=True)
class Param:
    """One parameter of an op: its name, default, check and how to fix a bad value."""

    name: str
    check: Check
    default: Any = _REQUIRED
    fix: str = ""
    integer: bool = False

    @property
    def required(self) -> bool:
        return self.default is _REQUIRED


class Op:
    """Base of every op declaration.

    Subclasses set the class attributes; instances are never created. The
    user-facing names (``sb.ind.sma``) are the classes themselves.
    """

    kind: ClassVar[OpKind]
    #: short name used in column names and messages, e.g. ``sma``
    short: ClassVar[str]
    #: bump when the op's semantics change: it is part of every node id
    version: ClassVar[int | str] = 1
    #: input roles fed by column refs, in positional order
    inputs: ClassVar[tuple[str, ...]] = ("x",)
    #: price fields read from a data ref (ops such as ATR), bound by name
    data_fields: ClassVar[tuple[str, ...]] = ()
    outputs: ClassVar[tuple[str, ...]] = ("value",)
    params: ClassVar[tuple[Param, ...]] = ()
    #: names of params shown in the column label, in order
    label_params: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def op_name(cls) -> str:
        return cls.__name__

    @classmethod
    def validate(cls, given: Mapping[str, Any], call: str) -> dict[str, Any]:
        """Check and normalize parameters; ``call`` names the node in messages."""
        known = {p.name for p in cls.params}
        unknown = sorted(set(given) - known)
        if unknown:
            expected = ", ".join(sorted(known)) or "no parameters"
            raise InvalidParameterError(
                f"{call}: unknown parameter {unknown[0]!r}; {cls.short} takes {expected}"
            )
        out: dict[str, Any] = {}
        for p in cls.params:
            if p.name not in given:
                if p.required:
                    raise InvalidParameterError(
                        f"{call}: parameter {p.name!r} is required; {p.fix or 'pass it as a keyword'}"
                    )
                out[p.name] = p.default
                continue
            value = given[p.name]
            if isinstance(value, SweepParam):
                out[p.name] = value  # checked when a sweep gives it a value
                continue
            problem = p.check(value)
            if problem:
                fix = f"; {p.fix}" if p.fix else ""
                raise InvalidParameterError(f"{call}: {p.name} {problem}, got {value!r}{fix}")
            out[p.name] = int(value) if p.integer else value
        return out

    @classmethod
    def lookback(cls, params: Mapping[str, Any]) -> int:
        """Rows of history one output row depends on (1 for elementwise ops)."""
        return 1

    @classmethod
    def strategy_names(cls, params: Mapping[str, Any]) -> list[str]:
        """Simulation ops: the names of the strategies the node simulates."""
        return [params["name"]]

    @classmethod
    def in_cell(cls, params: Mapping[str, Any], label: str) -> dict[str, Any]:
        """Simulation ops: ``params`` renamed for one sweep cell (``name[fast=10]``)."""
        return {**params, "name": f"{params['name']}[{label}]"}

    @classmethod
    def label(cls, params: Mapping[str, Any]) -> str:
        """The readable head of a column name, e.g. ``sma_10``."""
        parts = [cls.short, *(_fmt(params[name]) for name in cls.label_params)]
        return "_".join(parts)


def _fmt(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = str(value).replace(".", "p").replace("-", "m")
    # Keep column names plain identifiers ('1d@America/New_York' -> '1d_America_New_York').
    return "".join(c if c.isalnum() or c == "_" else "_" for c in text)


def window_param(doc_fix: str = "pass window >= 1, e.g. window=14") -> Param:
    return Param("window", positive_int, fix=doc_fix, integer=True)
