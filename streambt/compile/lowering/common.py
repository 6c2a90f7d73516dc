"""Shared pieces of the lowering modules."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import ibis
import ibis.expr.types as ir

if TYPE_CHECKING:
    from . import IbisLowering

#: ``visit_<Op>(lowering, table, inputs by role, params) -> {output: expression}``
Visit = Callable[
    ["IbisLowering", ir.Table, Mapping[str, ir.Column], Mapping[str, Any]], dict[str, ir.Value]
]

NULL = ibis.null("float64")
