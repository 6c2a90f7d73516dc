"""How event-style strategy classes reach the Python workers of a Spark job.

A portfolio node names its event-style strategies by identity (qualified name
and a hash of the source, :func:`streambt.ops.portfolio.register_strategy_class`);
the classes themselves live in :data:`~streambt.ops.portfolio.STRATEGY_CLASSES`
of the process that declared them. An executor's Python worker is another
process, which may not be able to import the module a class came from (a
notebook, a test file, a script next to the manifest), so the classes travel
*by value* with the job: :func:`pack_classes` on the driver, :func:`unpack_classes`
in the worker before the portfolio host is built.

>>> from streambt.graph import Graph
>>> unpack_classes(pack_classes(Graph()))  # no event-style strategy: nothing to ship
"""

from __future__ import annotations

import sys

from pyspark import cloudpickle

from ...graph import Graph
from ...ops.base import OpKind
from ...ops.portfolio import STRATEGY_CLASSES, Portfolio


def pack_classes(graph: Graph) -> bytes | None:
    """The event-style strategy classes ``graph``'s portfolios run, pickled by value."""
    wanted: set[str] = set()
    for node in graph.of_kind(OpKind.SIMULATION):
        # Declared (one node per strategy) or folded into the run's Portfolio nodes.
        entries = node.param_dict["strategies"] if node.op is Portfolio else [node.param_dict]
        wanted.update(e["strategy_class"] for e in entries if e.get("strategy_class"))
    if not wanted:
        return None
    classes = {identity: STRATEGY_CLASSES[identity] for identity in sorted(wanted)}
    modules = {
        cls.__module__
        for cls in classes.values()
        if cls.__module__ != "__main__" and not cls.__module__.startswith("streambt.")
    }
    added = [m for m in modules if m in sys.modules and m not in by_value()]
    for name in added:
        cloudpickle.register_pickle_by_value(sys.modules[name])
    try:
        return cloudpickle.dumps(classes)
    finally:
        for name in added:
            cloudpickle.unregister_pickle_by_value(sys.modules[name])


def unpack_classes(blob: bytes | None) -> None:
    """Make the shipped classes known to this process's portfolio hosts (once per blob: a
    worker process serves many groups and micro-batches)."""
    if blob is not None and blob not in _UNPACKED:
        STRATEGY_CLASSES.update(cloudpickle.loads(blob))
        _UNPACKED.add(blob)


_UNPACKED: set[bytes] = set()


def by_value() -> set[str]:
    """The modules cloudpickle already pickles by value."""
    return set(cloudpickle.list_registry_pickle_by_value())
