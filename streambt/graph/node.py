"""Nodes (immutable computations) and refs (handles to their outputs)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..errors import InvalidInputError
from ..ops.base import Op, OpKind
from .ids import canonical, digest

#: id characters kept in column names: 8 hex = 32 bits, enough to tell apart the
#: nodes of one graph, short enough to read.
SHORT_ID = 8


@dataclass(frozen=True)
class ColumnKey:
    """One output column of one node."""

    node_id: str
    output: str


@dataclass(frozen=True)
class Node:
    """One computation: an op, its inputs by role, its validated parameters.

    ``id`` is the sha256 of the canonical encoding of (op name and version,
    inputs by role, parameters), stable across processes and machines.
    """

    op: type[Op]
    inputs: tuple[tuple[str, ColumnKey], ...]
    params: tuple[tuple[str, Any], ...]
    id: str
    label: str
    call: str = field(default="", compare=False)

    @staticmethod
    def build(
        op: type[Op],
        inputs: Mapping[str, ColumnKey],
        params: Mapping[str, Any],
        input_labels: Mapping[str, str],
        call: str = "",
    ) -> Node:
        encoded = {
            "op": op.op_name(),
            "version": op.version,
            # Inputs are keyed by role, so canonical (sorted-key) order is stable
            # while cross(a, b) stays distinct from cross(b, a).
            "inputs": {role: [k.node_id, k.output] for role, k in inputs.items()},
            "params": dict(params),
        }
        node_id = digest(encoded)
        if op.kind is OpKind.SOURCE:
            label = f"{op.label(params)}_{node_id[:SHORT_ID]}"
        else:
            args = "_".join(
                input_labels[r] for r in (*op.inputs, *op.data_fields) if r in input_labels
            )
            label = (
                f"{op.label(params)}__{args}__{node_id[:SHORT_ID]}"
                if args
                else f"{op.label(params)}__{node_id[:SHORT_ID]}"
            )
        return Node(
            op=op,
            inputs=tuple(inputs.items()),
            params=tuple(sorted(params.items())),
            id=node_id,
            label=label,
            call=call,
        )

    @property
    def param_dict(self) -> dict[str, Any]:
        return dict(self.params)

    @property
    def kind(self) -> OpKind:
        return self.op.kind

    def column(self, output: str) -> str:
        """The column name of ``output``: the field name for data, else derived from the id."""
        if self.op.kind is OpKind.SOURCE:
            return output
        if len(self.op.outputs) == 1:
            return self.label
        return f"{self.label}__{output}"

    def short_label(self) -> str:
        """The label without its id suffix, used to name this node inside other labels."""
        if self.op.kind is OpKind.SOURCE:
            return "data"
        return self.op.label(self.param_dict)

    def describe(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in self.params if k != "feed")
        return f"{self.op.short}({params})"

    def canonical(self) -> str:
        return canonical({"op": self.op.op_name(), "params": dict(self.params)})


@dataclass(frozen=True)
class Ref:
    """A handle to a node's output, returned by ``Cerebro.add_*``.

    Index a multi-output node by output name (``macd["signal"]``) and a data
    node by field (``data["close"]``). A single-output ref stands for its one
    output.
    """

    node: Node
    output: str | None = None
    owner: int = field(default=0, compare=False, repr=False)

    def __getitem__(self, output: str) -> Ref:
        outputs = self.node.op.outputs
        if self.node.kind is OpKind.SOURCE:
            return Ref(self.node, output, self.owner)
        if output not in outputs:
            raise InvalidInputError(
                f"{self.node.describe()} has no output {output!r}; its outputs are {', '.join(outputs)}"
            )
        return Ref(self.node, output, self.owner)

    @property
    def id(self) -> str:
        return self.node.id

    def key(self, use: str) -> ColumnKey:
        """The column this ref stands for; ``use`` names the call for errors."""
        if self.output is not None:
            return ColumnKey(self.node.id, self.output)
        outputs = self.node.op.outputs
        if self.node.kind is OpKind.SOURCE:
            raise InvalidInputError(
                f"{use}: got the whole data feed where a column was expected; pass one field, e.g. data['close']"
            )
        if len(outputs) != 1:
            raise InvalidInputError(
                f"{use}: {self.node.describe()} has several outputs ({', '.join(outputs)}); pick one, e.g. ref[{outputs[0]!r}]"
            )
        return ColumnKey(self.node.id, outputs[0])

    @property
    def column(self) -> str:
        """The column name in result tables."""
        return self.node.column(self.key("column").output)

    def label(self) -> str:
        if self.node.kind is OpKind.SOURCE:
            return self.output or "data"
        base = self.node.short_label()
        outputs = self.node.op.outputs
        if self.output is not None and len(outputs) > 1:
            return f"{base}_{self.output}"
        return base

    def __repr__(self) -> str:
        out = f"[{self.output!r}]" if self.output else ""
        return f"Ref({self.node.label}{out})"
