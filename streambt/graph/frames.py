"""Which table (frame) a node's columns live in.

All data feeds share the base frame, the bars as loaded. Each resample node
roots a frame of its own (its higher-timeframe bars). Any other node lives in
the frame of its inputs, except an ``AsOf`` node, which lives in the frame of
its ``anchor`` input: it places a higher-timeframe column on those rows.
"""

from __future__ import annotations

from ..ops.base import OpKind
from .graph import Graph
from .node import Node

BASE = "bars"


def frame_of(graph: Graph, node: Node) -> str:
    """The frame id of ``node``: ``BASE`` or the id of the resample node rooting it."""
    if node.kind is OpKind.SOURCE:
        return node.id if node.op.op_name() == "Resample" else BASE
    inputs = dict(node.inputs)
    key = inputs["anchor"] if node.kind is OpKind.ALIGN else next(iter(inputs.values()))
    return frame_of(graph, graph.node(key.node_id))
