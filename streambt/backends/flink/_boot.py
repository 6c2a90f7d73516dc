"""Rebuilds streambt's Flink functions in a Python worker, after one repair the worker needs.

PyFlink's worker (``beam_sdk_worker_main.main``) replaces ``builtins.print``
with a method whose ``__module__`` is ``beam_sdk_worker_main``, a module with
no ``print``. numba, imported by streambt's kernels, checks on import that
every builtin it types is reachable from its module, so ``import numba`` fails
in a task manager's worker with ``AttributeError: module
'pyflink.fn_execution.beam.beam_sdk_worker_main' has no attribute 'print'``
(local runs are not affected: their workers live in the client process, where
numba was imported first).

Every function streambt ships to Flink pickles as a call of :func:`load`,
and this module is pickled by value (``cloudpickle.register_pickle_by_value``),
so in the worker the repair runs before the payload's unpickling imports
streambt. Keep this module free of streambt imports.
"""

from __future__ import annotations

import builtins
import pickle
import sys
from typing import Any

WORKER_MAIN = "pyflink.fn_execution.beam.beam_sdk_worker_main"


def load(payload: bytes) -> Any:
    """Repair the worker's ``print`` for numba, then rebuild the shipped object."""
    main = sys.modules.get(WORKER_MAIN)
    if main is not None and not hasattr(main, "print"):
        setattr(main, "print", builtins.print)  # noqa: B010  (a module attribute)
    cls, state = pickle.loads(payload)
    obj = cls.__new__(cls)
    obj.__dict__.update(state)
    return obj
