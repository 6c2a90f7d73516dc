"""Graph: nodes, durable ids, the DAG."""

from .graph import Graph
from .ids import canonical, digest
from .node import ColumnKey, Node, Ref

__all__ = ["ColumnKey", "Graph", "Node", "Ref", "canonical", "digest"]
