"""Kernels of user indicators: a Python function of the last N rows, or an init/step pair.

:mod:`streambt.ops.user` makes one kernel class per decorated function
(:func:`window_kernel`, :func:`recursive_kernel`), registered under the op's
name. Batch and stream run the same code: a batch is one :meth:`step` over the
whole history of a key, a stream one :meth:`step` per micro-batch, so both give
the same bits as long as the user's function is deterministic.

Window kernels keep the last ``N - 1`` rows (since the first row at which no
input is NaN, the rule TA-Lib's wrapper follows for leading NaNs) and call the
function once per complete window, on a fresh copy of it; with
``vectorized=True`` the function gets every window of the step at once, as
read-only 2-D views (one row per window).

Recursive kernels run the user's ``step(state, *row)`` in a Python loop. The
user's state (numbers, numpy arrays, and tuples, lists and dicts of those)
is flattened into the kernel state (a dict of numpy arrays) between steps, so
engines can store it like any other kernel state.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ..errors import GraphError
from ._jit import JIT_DISABLED
from .base import Columns, Kernel, State, scalar

__all__ = [
    "RecursiveFunctionKernel",
    "WindowFunctionKernel",
    "recursive_kernel",
    "window_kernel",
]


def as_number(value: Any, what: str) -> float:
    """``value`` as a float if it is one real number, else a GraphError naming ``what``."""
    if isinstance(value, float | int | np.floating | np.integer | np.bool_):
        return float(value)
    if isinstance(value, np.ndarray) and value.ndim == 0 and value.dtype.kind in "fiub":
        return float(value)
    shape = f" of shape {value.shape}" if isinstance(value, np.ndarray) else ""
    raise GraphError(f"{what}, got {type(value).__name__}{shape}: {_short(value)}")


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _first_complete(arrays: list[np.ndarray]) -> int:
    start = 0
    for a in arrays:
        nums = np.flatnonzero(~np.isnan(a))
        start = max(start, int(nums[0]) if nums.size else a.shape[0])
    return start


class WindowFunctionKernel(Kernel, register=False):
    """Calls :attr:`func` on each window of the last ``N`` rows (``N`` = the window parameter).

    The first ``N - 1`` rows after the first complete row (no input NaN) are
    NaN; leading rows with a NaN input are NaN and skipped, as TA-Lib does.
    """

    func: ClassVar[Callable[..., Any]]
    #: the name of the parameter holding N
    window_param: ClassVar[str]
    vectorized: ClassVar[bool] = False
    #: the node's short name, for messages
    label: ClassVar[str] = "window_indicator"

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self.window = int(params[self.window_param])
        self.kwargs = params

    def init(self) -> State:
        state: State = {f"buf_{r}": np.empty(0) for r in self.inputs}
        state["started"] = scalar(0, np.int64)
        return state

    def step(self, state: State, cols: Mapping[str, np.ndarray]) -> tuple[State, Columns]:
        new = [np.ascontiguousarray(cols[r], dtype=np.float64) for r in self.inputs]
        n = new[0].shape[0]
        out = {o: np.full(n, np.nan) for o in self.outputs}
        skip = 0
        if not state["started"][0]:
            skip = _first_complete(new)
            if skip == n:
                return state, out
            state["started"][0] = 1
        bufs = [state[f"buf_{r}"] for r in self.inputs]
        m = bufs[0].shape[0]
        full = [np.concatenate((b, x[skip:])) for b, x in zip(bufs, new, strict=True)]
        size = full[0].shape[0]
        count = size - self.window + 1
        if count > 0:
            # the window ending at full[j] is output row j - m + skip of this step
            first = self.window - 1 - m + skip
            views = [sliding_window_view(f, self.window) for f in full]
            values = self._run(views, count)
            for name, v in zip(self.outputs, values, strict=True):
                out[name][first : first + count] = v
        keep = min(self.window - 1, size)
        for r, f in zip(self.inputs, full, strict=True):
            state[f"buf_{r}"] = f[size - keep :].copy()
        return state, out

    def _run(self, views: list[np.ndarray], count: int) -> list[np.ndarray]:
        k = len(self.outputs)
        func, kwargs = self.func, self.kwargs
        if self.vectorized:
            return self._check_vectorized(func(*views, **kwargs), count)
        what = (
            f"{self.label}: the window function must return one number per window"
            if k == 1
            else f"{self.label}: the window function must return a tuple of {k} numbers "
            f"({', '.join(self.outputs)}) per window"
        )
        cols = [np.empty(count) for _ in range(k)]
        for i in range(count):
            # a fresh copy per call: the function may modify its argument, and every
            # window is laid out alike in batch and stream
            res = func(*[v[i].copy() for v in views], **kwargs)
            if k == 1:
                cols[0][i] = res if type(res) is float else as_number(res, what)
            else:
                if not isinstance(res, tuple | list) or len(res) != k:
                    raise GraphError(f"{what}, got {type(res).__name__}: {_short(res)}")
                for j in range(k):
                    cols[j][i] = as_number(res[j], what)
        return cols

    def _check_vectorized(self, res: Any, count: int) -> list[np.ndarray]:
        k = len(self.outputs)
        parts = (res,) if k == 1 else res
        what = (
            f"{self.label}: a vectorized window function gets 2-D arrays (one row per window, "
            f"here {count} rows) and must return "
            + ("one 1-D array" if k == 1 else f"a tuple of {k} 1-D arrays")
            + f" of {count} numbers"
        )
        if k > 1 and (not isinstance(parts, tuple | list) or len(parts) != k):
            raise GraphError(f"{what}, got {type(res).__name__}: {_short(res)}")
        cols = []
        for part in parts:
            arr = np.asarray(part)
            if arr.shape != (count,) or arr.dtype.kind not in "fiub":
                raise GraphError(f"{what}, got {arr.dtype} array of shape {arr.shape}")
            cols.append(arr.astype(np.float64))
        return cols


# -- the user's recursive state <-> a kernel state -----------------------------------

Layout = tuple[Any, ...]


def layout_of(value: Any, what: str) -> Layout:
    """The structure of a user state; numbers and arrays are its leaves."""
    if isinstance(value, bool | np.bool_):
        return ("b",)
    if isinstance(value, int | np.integer):
        return ("i",)
    if isinstance(value, float | np.floating):
        return ("f",)
    if isinstance(value, np.ndarray) and value.dtype.kind in "fiub":
        return ("a",)
    if isinstance(value, tuple | list):
        tag = "t" if isinstance(value, tuple) else "l"
        return (tag, tuple(layout_of(v, what) for v in value))
    if isinstance(value, dict) and all(isinstance(k, str) for k in value):
        return ("d", tuple((k, layout_of(v, what)) for k, v in value.items()))
    hint = "; use math.nan for 'no value yet'" if value is None else ""
    raise GraphError(
        f"{what}: a state holds numbers, numpy arrays, and tuples, lists or dicts (str keys) "
        f"of those, got {type(value).__name__}: {_short(value)}{hint}"
    )


def _leaves(value: Any, out: list[np.ndarray]) -> None:
    if isinstance(value, tuple | list):
        for v in value:
            _leaves(v, out)
    elif isinstance(value, dict):
        for v in value.values():
            _leaves(v, out)
    elif isinstance(value, np.ndarray):
        out.append(value.copy())
    else:
        out.append(np.array([value]))


def _build(layout: Layout, leaves: list[np.ndarray], pos: list[int]) -> Any:
    tag = layout[0]
    if tag in ("t", "l"):
        items = [_build(c, leaves, pos) for c in layout[1]]
        return tuple(items) if tag == "t" else items
    if tag == "d":
        return {k: _build(c, leaves, pos) for k, c in layout[1]}
    leaf = leaves[pos[0]]
    pos[0] += 1
    if tag == "a":
        return leaf
    value = leaf[0].item()
    return bool(value) if tag == "b" else int(value) if tag == "i" else float(value)


class RecursiveFunctionKernel(Kernel, register=False):
    """Runs the user's ``step(state, *row) -> (state, output)`` row by row.

    ``init(**params)`` gives the first state; ``step`` must return a state of
    the same structure (the same keys, the same number of items).
    """

    init_func: ClassVar[Callable[..., Any]]
    step_func: ClassVar[Callable[..., Any]]
    #: parameter names ``init`` and ``step`` take
    init_params: ClassVar[tuple[str, ...]] = ()
    step_params: ClassVar[tuple[str, ...]] = ()
    label: ClassVar[str] = "recursive_indicator"
    #: run the loop compiled with numba (state: a flat tuple of numbers and arrays)
    jit: ClassVar[bool] = False

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self.init_kwargs = {k: params[k] for k in self.init_params}
        self.step_kwargs = {k: params[k] for k in self.step_params}
        self.layout = layout_of(self._user_init(), f"{self.label}: init() returned a state")
        if self.jit and not (self.layout[0] == "t" and all(len(c) == 1 for c in self.layout[1])):
            raise GraphError(
                f"{self.label}: with jit=True the state is a flat tuple of numbers and numpy "
                f"arrays (numba's types), init gave {_short(self._user_init())}"
            )

    def _user_init(self) -> Any:
        return self.init_func(**self.init_kwargs)

    def _encode(self, user: Any) -> State:
        found = layout_of(user, f"{self.label}: step() returned a state")
        if found != self.layout:
            raise GraphError(
                f"{self.label}: step() must return a state shaped like init()'s "
                f"(same keys and items); init gave {_short(_build_example(self.layout))}, "
                f"step gave {_short(user)}"
            )
        leaves: list[np.ndarray] = []
        _leaves(user, leaves)
        return {f"state_{i}": leaf for i, leaf in enumerate(leaves)}

    def _decode(self, state: State) -> Any:
        leaves = [state[f"state_{i}"] for i in range(len(state))]
        return _build(self.layout, leaves, [0])

    def init(self) -> State:
        return self._encode(self._user_init())

    def step(self, state: State, cols: Mapping[str, np.ndarray]) -> tuple[State, Columns]:
        if self.jit and not JIT_DISABLED:
            return self._step_compiled(state, cols)
        user = self._decode(state)
        rows = [np.asarray(cols[r], dtype=np.float64).tolist() for r in self.inputs]
        n = len(rows[0]) if rows else 0
        k = len(self.outputs)
        step, kwargs = self.step_func, self.step_kwargs
        what = (
            f"{self.label}: step(state, ...) must return (state, output) with one number as output"
            if k == 1
            else f"{self.label}: step(state, ...) must return (state, (a tuple of {k} numbers: "
            f"{', '.join(self.outputs)}))"
        )
        outs = [np.empty(n) for _ in range(k)]
        first = outs[0]
        for i, row in enumerate(zip(*rows, strict=True)):
            res = step(user, *row, **kwargs)
            if type(res) is not tuple or len(res) != 2:
                raise GraphError(f"{what}, got {type(res).__name__}: {_short(res)}")
            user, value = res
            if k == 1:
                first[i] = value if type(value) is float else as_number(value, what)
            else:
                if not isinstance(value, tuple | list) or len(value) != k:
                    raise GraphError(f"{what}, got output {_short(value)}")
                for j in range(k):
                    outs[j][i] = as_number(value[j], what)
        return self._encode(user), dict(zip(self.outputs, outs, strict=True))

    def _step_compiled(self, state: State, cols: Mapping[str, np.ndarray]) -> tuple[State, Columns]:
        rows = np.column_stack(
            [np.asarray(cols[r], dtype=np.float64) for r in self.inputs]
        ).reshape(-1, len(self.inputs))
        out = np.empty((rows.shape[0], len(self.outputs)))
        drive = _driver(len(self.inputs), len(self.outputs), len(self.step_params))
        user = drive(_compiled(self), self._decode(state), rows, out, *self.step_kwargs.values())
        return self._encode(user), {o: out[:, j].copy() for j, o in enumerate(self.outputs)}


# numba cannot bind keyword-only arguments, so the compiled loop passes the inputs and
# then the parameters by position; one loop source per (inputs, outputs, parameters) count
_DRIVERS: dict[tuple[int, int, int], Callable[..., Any]] = {}


def _driver(n_in: int, n_out: int, n_params: int) -> Callable[..., Any]:
    key = (n_in, n_out, n_params)
    if key not in _DRIVERS:
        import numba

        params = [f"p{j}" for j in range(n_params)]
        args = ", ".join([*(f"rows[i, {j}]" for j in range(n_in)), *params])
        store = (
            "out[i, 0] = value"
            if n_out == 1
            else "; ".join(f"out[i, {j}] = value[{j}]" for j in range(n_out))
        )
        source = (
            f"def drive(step, state, rows, out{''.join(', ' + p for p in params)}):\n"
            "    for i in range(rows.shape[0]):\n"
            f"        state, value = step(state, {args})\n"
            f"        {store}\n"
            "    return state\n"
        )
        namespace: dict[str, Any] = {}
        exec(compile(source, f"<streambt recursive driver {key}>", "exec"), namespace)
        _DRIVERS[key] = numba.njit(nogil=True)(namespace["drive"])
    return _DRIVERS[key]


def _compiled(kernel: RecursiveFunctionKernel) -> Any:
    cls = type(kernel)
    found = cls.__dict__.get("_compiled_step")
    if found is None:
        import numba

        step = cls.step_func
        found = step if hasattr(step, "py_func") else numba.njit(nogil=True)(step)
        cls._compiled_step = found  # type: ignore[attr-defined]
    return found


def _build_example(layout: Layout) -> Any:
    """A readable stand-in for a state of ``layout`` (for messages)."""
    tag = layout[0]
    if tag in ("t", "l"):
        items = [_build_example(c) for c in layout[1]]
        return tuple(items) if tag == "t" else items
    if tag == "d":
        return {k: _build_example(c) for k, c in layout[1]}
    return {"a": "array", "b": True, "i": 0, "f": math.nan}[tag]


def window_kernel(op_name: str, **attrs: Any) -> type[WindowFunctionKernel]:
    """Make (and register under ``op_name``) the window kernel of one user function."""
    cls = type(f"{op_name}Kernel", (WindowFunctionKernel,), _with_func(attrs, "func"))
    return cls


def recursive_kernel(op_name: str, **attrs: Any) -> type[RecursiveFunctionKernel]:
    """Make (and register under ``op_name``) the recursive kernel of one user init/step pair."""
    attrs = _with_func(_with_func(attrs, "init_func"), "step_func")
    return type(f"{op_name}Kernel", (RecursiveFunctionKernel,), attrs)


def _with_func(attrs: dict[str, Any], key: str) -> dict[str, Any]:
    # a plain function stored on a class would become a method; the user's functions
    # are called without an instance
    return {**attrs, key: staticmethod(attrs[key])}
