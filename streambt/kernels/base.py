"""The streaming form of an op: ``init() -> state``, ``step(state, cols)``.

A kernel consumes the rows of ONE key (one symbol) in event-time order. A
batch run is one ``step`` over the whole history; a stream is one ``step`` per
micro-batch or per event, with the state carried between them. Both must give
identical outputs (the chunk-invariance test checks it for every kernel).

State is plain data: a ``dict`` of numpy arrays (scalars as shape-``(1,)``
arrays), so Flink ``ValueState``, Spark ``GroupState`` and a local dict can all
hold it (:func:`dumps_state` / :func:`loads_state`).

Conventions shared by all kernels:

- inputs are float64 numpy arrays keyed by the op's input role names, and
  ``ts`` (int64 microseconds since the epoch, UTC) where the op asks for it;
- missing values are ``NaN`` on the way in and out (the host maps them to
  SQL/Arrow nulls);
- ``step`` may reuse the buffers of the state it is given: the caller hands
  the state over and keeps only the returned one.
"""

from __future__ import annotations

import pickle
from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np

from ..errors import InvalidParameterError

State = dict[str, np.ndarray]
Columns = dict[str, np.ndarray]
Events = dict[str, Columns]

KERNELS: dict[str, type[Kernel]] = {}


class Kernel(ABC):
    """Incremental form of one op, bound to that op's validated parameters.

    Subclasses are named after their op (``SimpleMovingAverage`` ->
    ``SimpleMovingAverageKernel``) and register themselves under the op name.

    Examples
    --------
    >>> k = KERNELS["SimpleMovingAverage"](window=3)        # doctest: +SKIP
    >>> state = k.init()                                    # doctest: +SKIP
    >>> state, out = k.step(state, {"x": np.arange(5.0)})  # doctest: +SKIP
    >>> out["value"]                                        # doctest: +SKIP
    array([nan, nan, 1., 2., 3.])
    """

    #: role names of the input columns, in declaration order
    inputs: ClassVar[tuple[str, ...]] = ("x",)
    #: names of the per-row output columns
    outputs: ClassVar[tuple[str, ...]] = ("value",)

    def __init_subclass__(cls, register: bool = True, **kwargs: Any) -> None:
        # ABCMeta marks abstract classes only after this hook runs, so base
        # classes opt out explicitly with ``register=False``.
        super().__init_subclass__(**kwargs)
        name = cls.__name__
        if register and name.endswith("Kernel"):
            KERNELS[name.removesuffix("Kernel")] = cls

    def __init__(self, **params: Any) -> None:
        self.params = params

    @abstractmethod
    def init(self) -> State:
        """Return the state before the first row."""

    @abstractmethod
    def step(self, state: State, cols: Mapping[str, np.ndarray]) -> tuple[State, Columns]:
        """Consume the next rows of one key; return the new state and one output row per input row."""


class SimulationKernel(Kernel, register=False):
    """A kernel that also emits events (orders, fills, trades) besides per-row outputs."""

    @abstractmethod
    def step_events(
        self, state: State, cols: Mapping[str, np.ndarray]
    ) -> tuple[State, Columns, Events]:
        """Like :meth:`step`, and also return the event tables produced by these rows."""

    def step(self, state: State, cols: Mapping[str, np.ndarray]) -> tuple[State, Columns]:
        state, rows, _ = self.step_events(state, cols)
        return state, rows

    def finish(self, state: State) -> Events:
        """Events still pending when the input ends (e.g. an unfilled order); default none."""
        return {}


def dumps_state(state: State) -> bytes:
    """Serialize a kernel state to bytes (for engine-managed state stores)."""
    return pickle.dumps({k: np.asarray(v) for k, v in state.items()}, protocol=5)


def loads_state(blob: bytes) -> State:
    """Inverse of :func:`dumps_state`."""
    state: State = pickle.loads(blob)
    return state


def check_int_param(op: str, name: str, value: object, minimum: int) -> int:
    """Return ``value`` if it is an integer >= ``minimum``, else raise InvalidParameterError."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise InvalidParameterError(
            f"{op}({name}={value!r}): {name} must be an integer >= {minimum}, got {value!r}. "
            f"Pass e.g. {name}={max(minimum, 10)}."
        )
    return int(value)


def scalar(value: float | int, dtype: Any = np.float64) -> np.ndarray:
    """A scalar as a shape-(1,) array, the form scalars take inside a state."""
    return np.array([value], dtype=dtype)
