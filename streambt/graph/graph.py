"""The DAG of nodes, held in networkx and keyed by node id."""

from __future__ import annotations

from collections.abc import Iterator

import networkx as nx

from ..ops.base import OpKind
from .node import Node


class Graph:
    """A DAG of :class:`Node` keyed by id; adding an equal node is a no-op."""

    def __init__(self) -> None:
        self._g: nx.DiGraph = nx.DiGraph()

    def add(self, node: Node) -> Node:
        """Add ``node``; return the node already stored under the same id, if any."""
        if node.id in self._g:
            existing: Node = self._g.nodes[node.id]["node"]
            return existing
        self._g.add_node(node.id, node=node)
        for _, key in node.inputs:
            self._g.add_edge(key.node_id, node.id)
        return node

    def __contains__(self, node_id: object) -> bool:
        return node_id in self._g

    def __len__(self) -> int:
        return int(self._g.number_of_nodes())

    def node(self, node_id: str) -> Node:
        n: Node = self._g.nodes[node_id]["node"]
        return n

    def nodes(self) -> Iterator[Node]:
        """All nodes in a deterministic topological order (ties broken by id)."""
        for node_id in nx.lexicographical_topological_sort(self._g):
            yield self.node(node_id)

    def of_kind(self, *kinds: OpKind) -> list[Node]:
        return [n for n in self.nodes() if n.kind in kinds]

    def ancestors(self, node_id: str) -> list[Node]:
        return [self.node(i) for i in sorted(nx.ancestors(self._g, node_id))]

    def predecessors(self, node_id: str) -> list[str]:
        return sorted(self._g.predecessors(node_id))

    @property
    def nx(self) -> nx.DiGraph:
        """The underlying networkx graph (read-only use)."""
        return self._g
