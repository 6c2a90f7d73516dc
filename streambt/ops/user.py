"""User indicators as first-class nodes: ``@sb.ind.window_indicator``, ``@sb.ind.recursive_indicator``.

A decorated function (or init/step pair) becomes an :class:`Op` class, used
like any built-in indicator::

    @sb.ind.window_indicator
    def efficiency(x, *, window=10):
        return abs(x[-1] - x[0]) / np.abs(np.diff(x)).sum()

    er = cb.add_indicator(efficiency, data["close"], window=20)

Its identity (part of every node id) is the function's qualified name plus a
sha256 of its normalized source (``ast.unparse`` without decorators,
docstrings and comments), of the values it closes over and of the decorator's
options: editing the function gives new ids, the same function twice gives
the same node. The function's parameters are the node's parameters, validated
when a node is built; its defaults become the node's defaults.

Limits, on purpose: module globals a function reads are not hashed (change a
global constant and the id stays; pass it as a parameter instead), and a
function must have source Python can find (a module file or a notebook cell,
not ``python -c`` or a lambda).
"""

from __future__ import annotations

import ast
import hashlib
import inspect
import math
import textwrap
import threading
import types
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar

import numpy as np

from ..errors import GraphError, InvalidInputError, InvalidParameterError
from ..graph.ids import canonical, digest
from .base import Op, OpKind, Param, positive_int

__all__ = [
    "RecursiveIndicator",
    "UserIndicator",
    "WindowIndicator",
    "recursive_indicator",
    "window_indicator",
]

#: bump when the meaning of user indicator nodes changes on streambt's side
OP_VERSION = 1
BAR_FIELDS = ("open", "high", "low", "close", "volume")
_EMPTY = inspect.Parameter.empty
_POSITIONAL = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)

_lock = threading.Lock()
_ops: dict[str, type[UserIndicator]] = {}


class UserIndicator(Op):
    """Base of the op classes the decorators make."""

    #: the op name: ``"<kind>:<qualified name>:<12 hex of the source digest>"``
    identity: ClassVar[str]
    #: sha256 of the function's normalized source, closure values and options
    source_digest: ClassVar[str]

    @classmethod
    def op_name(cls) -> str:
        return cls.identity

    @classmethod
    def compute(cls, *arrays: Any, **params: Any) -> Any:
        """Run on numpy arrays outside a graph (one batch step); handy for checking the function.

        Returns the output array, or a dict of arrays for several outputs.

        Examples
        --------
        >>> efficiency.compute(close_prices, window=20)  # doctest: +SKIP
        """
        from ..kernels.base import KERNELS

        call = f"{cls.short}.compute"
        roles = cls.data_fields or cls.inputs
        if len(arrays) != len(roles):
            raise InvalidInputError(
                f"{call}: takes {len(roles)} array(s) ({', '.join(roles)}), got {len(arrays)}"
            )
        kernel = KERNELS[cls.op_name()](**cls.validate(params, call))
        cols = {r: np.asarray(a, dtype=np.float64) for r, a in zip(roles, arrays, strict=True)}
        _, out = kernel.step(kernel.init(), cols)
        return out[cls.outputs[0]] if len(cls.outputs) == 1 else out


class WindowIndicator(UserIndicator):
    """A user function of the last N rows (made by :func:`window_indicator`)."""

    kind = OpKind.WINDOWED
    #: the user's function
    func: ClassVar[Callable[..., Any]]
    window_param: ClassVar[str] = "window"
    vectorized: ClassVar[bool] = False

    @classmethod
    def lookback(cls, params: Mapping[str, Any]) -> int:
        return int(params[cls.window_param])


class RecursiveIndicator(UserIndicator):
    """A user ``init``/``step`` pair (made by :func:`recursive_indicator`)."""

    kind = OpKind.RECURSIVE
    init_func: ClassVar[Callable[..., Any]]
    step_func: ClassVar[Callable[..., Any]]


# -- identity ----------------------------------------------------------------------


def _unwrap(func: Any) -> Any:
    # numba dispatchers keep the Python function they compile
    return getattr(func, "py_func", func)


def _strip(node: ast.AST) -> None:
    """Drop decorators and docstrings: neither changes what the code computes."""
    for sub in ast.walk(node):
        if isinstance(sub, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            sub.decorator_list = []
            body = sub.body
            if (
                body
                and isinstance(body[0], ast.Expr)
                and isinstance(body[0].value, ast.Constant)
                and isinstance(body[0].value.value, str)
            ):
                sub.body = body[1:] or [ast.Pass()]


def normalized_source(obj: Any, what: str) -> str:
    """The source of a function or class as ``ast.unparse`` gives it, without decorators or docstrings."""
    target = _unwrap(obj)
    try:
        text = inspect.getsource(target)
    except (OSError, TypeError) as e:
        raise InvalidInputError(
            f"{what}: streambt hashes the source of {getattr(target, '__qualname__', target)!r} "
            f"for its node ids, but Python cannot find it ({e}); define it in a module file "
            "or a notebook cell"
        ) from e
    tree = ast.parse(textwrap.dedent(text))
    node = tree.body[0]
    if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
        raise InvalidInputError(f"{what}: expected a function defined with def, got {text[:60]!r}")
    _strip(node)
    return ast.unparse(node)


def _freeze(value: Any, what: str, name: str, depth: int = 0) -> Any:
    """A canonical stand-in for a closed-over value, or an error if it has none."""
    if isinstance(value, types.FunctionType) or hasattr(value, "py_func"):
        if depth > 8:
            return {"function": value.__qualname__}
        return {
            "function": value.__qualname__,
            "source": normalized_source(value, what),
            "closure": _closure(_unwrap(value), what, depth + 1),
        }
    if isinstance(value, type):
        return {"class": value.__qualname__, "module": value.__module__}
    if isinstance(value, types.ModuleType):
        return {"module": value.__name__}
    if isinstance(value, np.ndarray):
        data = np.ascontiguousarray(value)
        return {
            "ndarray": hashlib.sha256(data.tobytes()).hexdigest(),
            "dtype": str(data.dtype),
            "shape": list(data.shape),
        }
    try:
        canonical(value)
    except GraphError as e:
        raise InvalidInputError(
            f"{what}: the function uses {name!r} from an enclosing scope, a "
            f"{type(value).__name__}, which cannot be part of a node id; pass it as a "
            "parameter (numbers, strings, booleans) instead"
        ) from e
    return value


def _closure(func: Any, what: str, depth: int = 0) -> dict[str, Any]:
    code = getattr(func, "__code__", None)
    if code is None or not func.__closure__:
        return {}
    out: dict[str, Any] = {}
    for name, cell in zip(code.co_freevars, func.__closure__, strict=True):
        try:
            value = cell.cell_contents
        except ValueError:  # an empty cell: the name is assigned later
            continue
        out[name] = _freeze(value, what, name, depth)
    return out


def _identity(kind: str, qualname: str, material: Mapping[str, Any]) -> tuple[str, str]:
    full = digest({"kind": kind, "qualname": qualname, **material})
    return f"{kind}:{qualname}:{full[:12]}", full


# -- parameters ---------------------------------------------------------------------


def _is_int(value: Any) -> bool:
    return (
        not isinstance(value, bool)
        and isinstance(value, int | float)
        and math.isfinite(value)
        and float(value).is_integer()
    )


def _check_bool(value: Any) -> str | None:
    return None if isinstance(value, bool) else "must be True or False"


def _check_int(value: Any) -> str | None:
    return None if _is_int(value) else "must be an integer"


def _check_number(value: Any) -> str | None:
    ok = not isinstance(value, bool) and isinstance(value, int | float) and math.isfinite(value)
    return None if ok else "must be a finite number"


def _check_str(value: Any) -> str | None:
    return None if isinstance(value, str) else "must be a string"


def _check_plain(value: Any) -> str | None:
    if isinstance(value, float) and not math.isfinite(value):
        return "must be a finite number, a string or a boolean"
    ok = value is None or isinstance(value, bool | int | float | str)
    return None if ok else "must be a number, a string, a boolean or None"


def _param(p: inspect.Parameter, window: str | None, what: str) -> Param:
    default = p.default
    example = f"{p.name}={default!r}" if default is not _EMPTY else f"{p.name}=..."
    if p.name == window:
        if default is not _EMPTY and positive_int(default):
            raise InvalidParameterError(
                f"{what}: the default of {p.name} must be a positive integer, got {default!r}"
            )
        fix = f"pass {p.name} >= 1, e.g. {p.name}={default if default is not _EMPTY else 20}"
        check, integer = positive_int, True
    elif isinstance(default, bool):
        check, integer, fix = _check_bool, False, f"pass True or False, e.g. {example}"
    elif isinstance(default, int):
        check, integer, fix = _check_int, True, f"pass an integer, e.g. {example}"
    elif isinstance(default, float):
        check, integer, fix = _check_number, False, f"pass a number, e.g. {example}"
    elif isinstance(default, str):
        check, integer, fix = _check_str, False, f"pass a string, e.g. {example}"
    elif default is _EMPTY or default is None:
        check, integer, fix = _check_plain, False, f"pass a number, string or boolean: {example}"
    else:
        raise InvalidParameterError(
            f"{what}: parameter {p.name} has default {default!r}; parameters take numbers, "
            "strings, booleans or None (they are part of node ids)"
        )
    if default is _EMPTY:
        return Param(p.name, check, fix=fix, integer=integer)
    return Param(p.name, check, default=default, fix=fix, integer=integer)


def _signature(func: Any, what: str) -> inspect.Signature:
    try:
        sig = inspect.signature(_unwrap(func))
    except (TypeError, ValueError) as e:
        raise InvalidInputError(f"{what}: cannot read the signature of {func!r} ({e})") from e
    for p in sig.parameters.values():
        if p.kind in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD):
            star = "*" if p.kind is inspect.Parameter.VAR_POSITIONAL else "**"
            raise InvalidParameterError(
                f"{what}: declare each input and parameter by name instead of {star}{p.name} "
                "(streambt validates calls against them), e.g. def f(x, *, window=20)"
            )
    return sig


def _split(
    sig: inspect.Signature, window: str | None, what: str, skip: int = 0
) -> tuple[list[str], list[inspect.Parameter]]:
    """Leading positional parameters without defaults are inputs; the rest are parameters."""
    inputs: list[str] = []
    params: list[inspect.Parameter] = []
    for p in list(sig.parameters.values())[skip:]:
        if p.kind in _POSITIONAL and p.default is _EMPTY and p.name != window and not params:
            inputs.append(p.name)
            continue
        if p.kind is inspect.Parameter.POSITIONAL_ONLY:
            raise InvalidParameterError(
                f"{what}: parameter {p.name} is positional-only; streambt passes parameters by "
                "keyword, so make it keyword-only (after a bare *)"
            )
        params.append(p)
    return inputs, params


def _outputs(outputs: Any, what: str) -> tuple[str, ...]:
    if isinstance(outputs, str):
        outputs = (outputs,)
    if (
        not isinstance(outputs, Sequence)
        or not outputs
        or not all(isinstance(o, str) and o.isidentifier() for o in outputs)
        or len(set(outputs)) != len(outputs)
    ):
        raise InvalidParameterError(
            f"{what}: outputs must be a tuple of distinct names, e.g. outputs=('upper', 'lower'), "
            f"got {outputs!r}"
        )
    return tuple(outputs)


def _bind_inputs(
    inputs: list[str], from_data: bool, what: str
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    if not inputs:
        raise InvalidParameterError(
            f"{what}: the function takes no input series; its first parameters (without "
            "defaults) are the inputs, e.g. def f(x, *, window=20)"
        )
    if not from_data:
        return tuple(inputs), ()
    unknown = [i for i in inputs if i not in BAR_FIELDS]
    if unknown:
        raise InvalidParameterError(
            f"{what}: with from_data=True the inputs are bar fields read from the data ref "
            f"({', '.join(BAR_FIELDS)}); {', '.join(unknown)} is not one"
        )
    return (), tuple(inputs)


def _register(identity: str, make: Callable[[], type[UserIndicator]]) -> type[UserIndicator]:
    with _lock:
        found = _ops.get(identity)
        if found is None:
            found = _ops[identity] = make()
        return found


def _namespace(obj: Any, short: str | None, doc: str | None) -> dict[str, Any]:
    return {
        "__module__": obj.__module__,
        "__qualname__": obj.__qualname__,
        "__doc__": doc,
        "__wrapped__": obj,
        "short": short or obj.__name__,
        "version": OP_VERSION,
    }


# -- window indicators ----------------------------------------------------------------


def window_indicator(
    func: Callable[..., Any] | None = None,
    /,
    *,
    window: str = "window",
    outputs: Sequence[str] = ("value",),
    vectorized: bool = False,
    from_data: bool = False,
    name: str | None = None,
) -> Any:
    """Make a node out of a function of the last N rows.

    The function's leading positional parameters (without defaults) are its
    input series; each gets a 1-D float64 array of the last N values (a
    fresh copy). Its other parameters, keyword-only or with defaults, are
    the node's parameters; ``window`` names the one holding N (a positive
    integer, passed to the function too). It returns one number per window,
    or a tuple of numbers when ``outputs`` names several. Rows before the
    first full window (counted from the first row at which no input is
    NaN, as TA-Lib does) are NaN.

    Parameters
    ----------
    func : callable
        The function; the decorator also works without parentheses.
    window : str
        Name of the parameter holding N, default ``"window"``.
    outputs : tuple of str
        Output names, default ``("value",)``.
    vectorized : bool
        Call the function once per step with 2-D read-only arrays (one row
        per window) and expect 1-D arrays back; much faster for numpy code.
    from_data : bool
        Inputs are bar fields (``high``, ``low``, ...) read from the data ref.
    name : str, optional
        Short name for column labels; default the function's name.

    Examples
    --------
    >>> @sb.ind.window_indicator  # doctest: +SKIP
    ... def hl_range(high, low, *, window=20):
    ...     return high.max() - low.min()
    >>> rng = cb.add_indicator(hl_range, data["high"], data["low"], window=20)  # doctest: +SKIP
    """
    options: dict[str, Any] = {
        "window": window,
        "outputs": outputs,
        "vectorized": vectorized,
        "from_data": from_data,
        "name": name,
    }
    if func is None:
        return lambda f: _make_window(f, **options)
    if not callable(func):
        raise InvalidInputError(
            f"@sb.ind.window_indicator takes its options by keyword, e.g. "
            f"@sb.ind.window_indicator(window={func!r}); got {func!r} as a function"
        )
    return _make_window(func, **options)


def _check_function(func: Any, what: str) -> None:
    target = _unwrap(func)
    if not isinstance(target, types.FunctionType):
        raise InvalidInputError(
            f"{what}: decorate a plain function defined with def, got {type(func).__name__}"
        )
    if target.__name__ == "<lambda>":
        raise InvalidInputError(
            f"{what}: a lambda has no source of its own to hash for node ids; define it with def"
        )


def _make_window(
    func: Any,
    *,
    window: str,
    outputs: Sequence[str],
    vectorized: bool,
    from_data: bool,
    name: str | None,
) -> type[WindowIndicator]:
    what = f"@sb.ind.window_indicator on {getattr(func, '__qualname__', func)!r}"
    _check_function(func, what)
    if not isinstance(window, str):
        raise InvalidParameterError(
            f"{what}: window names the parameter holding N, e.g. window='n', got {window!r}"
        )
    outs = _outputs(outputs, what)
    sig = _signature(func, what)
    inputs, params = _split(sig, window, what)
    if window not in [p.name for p in params]:
        raise InvalidParameterError(
            f"{what}: the function has no parameter {window!r} for the window length; add it "
            f"(e.g. def {func.__name__}({', '.join(inputs) or 'x'}, *, {window}=20)) or name "
            f"the one it has with window=..., e.g. @sb.ind.window_indicator(window='n')"
        )
    roles, fields = _bind_inputs(inputs, from_data, what)
    qualname = func.__qualname__
    identity, full = _identity(
        "window",
        qualname,
        {
            "source": normalized_source(func, what),
            "closure": _closure(_unwrap(func), what),
            "options": {
                "window": window,
                "outputs": list(outs),
                "vectorized": bool(vectorized),
                "from_data": bool(from_data),
                "name": name,
            },
        },
    )

    def make() -> type[WindowIndicator]:
        from ..kernels.user import window_kernel

        ordered = sorted(params, key=lambda p: p.name != window)
        namespace = _namespace(func, name, func.__doc__)
        namespace.update(
            identity=identity,
            source_digest=full,
            func=staticmethod(func),
            window_param=window,
            vectorized=bool(vectorized),
            inputs=roles,
            data_fields=fields,
            outputs=outs,
            params=tuple(_param(p, window, what) for p in ordered),
            label_params=tuple(p.name for p in ordered),
        )
        cls: type[WindowIndicator] = type(func.__name__, (WindowIndicator,), namespace)
        # The kernel carries the function; registering it under the op name is how
        # the planner finds it (Kernel.__init_subclass__).
        window_kernel(
            identity,
            func=func,
            window_param=window,
            vectorized=bool(vectorized),
            inputs=fields or roles,
            outputs=outs,
            label=cls.short,
        )
        return cls

    return _register(identity, make)  # type: ignore[return-value]


# -- recursive indicators ---------------------------------------------------------------


def recursive_indicator(
    cls: type | None = None,
    /,
    *,
    init: Callable[..., Any] | None = None,
    step: Callable[..., Any] | None = None,
    outputs: Sequence[str] | None = None,
    from_data: bool = False,
    name: str | None = None,
    jit: bool = False,
) -> Any:
    """Make a node out of a recursive computation: ``init(**params) -> state`` and
    ``step(state, *row, **params) -> (state, output)``.

    Decorate a class holding ``init`` and ``step`` (plain functions without
    ``self``, best marked ``@staticmethod``), or pass ``init=`` and
    ``step=`` (and ``name=``). ``step``'s positional parameters after the
    state are the input series, one float per row; its keyword-only
    parameters, and all of ``init``'s, are the node's parameters. A state
    holds numbers, numpy arrays, and tuples, lists or dicts of those, and
    keeps the shape ``init`` gave it. The output is one number per row (a
    tuple for several ``outputs``); warm-up is whatever ``step`` returns
    (``math.nan`` for "no value yet"). Runs as Python per row (about a
    microsecond of overhead per row on top of ``step`` itself), or compiled
    with numba with ``jit=True``.

    Parameters
    ----------
    cls : type
        A class holding ``init`` and ``step``; the decorator also works
        without parentheses.
    init, step : callable
        The two functions, instead of a class.
    outputs : tuple of str
        Output names, default ``("value",)`` (or the class's ``outputs``).
    from_data : bool
        Inputs are bar fields (``high``, ``low``, ...) read from the data ref.
    name : str, optional
        Short name for column labels; default the class's (or step's) name.
    jit : bool
        Compile ``step`` and the loop over rows with numba (tens of
        nanoseconds per row). The state must then be a flat tuple of numbers
        and arrays, and ``step``'s parameters positional with defaults
        (``def step(state, x, alpha=0.1)``): numba cannot pass keyword-only ones.

    Examples
    --------
    >>> @sb.ind.recursive_indicator  # doctest: +SKIP
    ... class ewma:
    ...     @staticmethod
    ...     def init():
    ...         return {"m": math.nan}
    ...
    ...     @staticmethod
    ...     def step(state, x, *, alpha=0.1):
    ...         m = x if math.isnan(state["m"]) else state["m"] + alpha * (x - state["m"])
    ...         return {"m": m}, m
    >>> smooth = cb.add_indicator(ewma, data["close"], alpha=0.2)  # doctest: +SKIP
    """
    options: dict[str, Any] = {
        "outputs": outputs,
        "from_data": from_data,
        "name": name,
        "jit": jit,
    }
    if cls is not None:
        if init is not None or step is not None:
            raise InvalidInputError(
                "sb.ind.recursive_indicator: decorate a class holding init and step, or pass "
                "init= and step=, not both"
            )
        if not isinstance(cls, type):
            raise InvalidInputError(
                "@sb.ind.recursive_indicator decorates a class with init and step (or takes "
                f"init=..., step=...), got {type(cls).__name__} {cls!r}"
            )
        return _make_recursive_class(cls, **options)
    if init is None and step is None:
        return lambda c: recursive_indicator(c, **options)
    if init is None or step is None:
        raise InvalidInputError(
            "sb.ind.recursive_indicator: pass both init= and step= (or decorate a class "
            "holding both)"
        )
    return _make_recursive(init, step, None, **options)


def _method(owner: type, attr: str, what: str) -> Any:
    raw = owner.__dict__.get(attr)
    if raw is None:
        raise InvalidInputError(f"{what}: the class has no {attr}(); define init and step")
    if isinstance(raw, classmethod):
        raise InvalidInputError(
            f"{what}: {attr} is a classmethod; streambt calls init and step without a class or "
            "instance, so mark them @staticmethod"
        )
    func = raw.__func__ if isinstance(raw, staticmethod) else raw
    if not isinstance(raw, staticmethod):
        first = next(iter(_signature(func, what).parameters), None)
        if first == "self" or (attr == "init" and first == "cls"):
            raise InvalidInputError(
                f"{what}: {attr}({first}, ...) takes {first}, but streambt calls init and step "
                "without an instance; mark them @staticmethod and drop it"
            )
    return func


def _make_recursive_class(
    owner: type, *, outputs: Sequence[str] | None, from_data: bool, name: str | None, jit: bool
) -> type[RecursiveIndicator]:
    what = f"@sb.ind.recursive_indicator on {owner.__qualname__!r}"
    init = _method(owner, "init", what)
    step = _method(owner, "step", what)
    if outputs is None:
        outputs = owner.__dict__.get("outputs", ("value",))
    return _make_recursive(
        init, step, owner, outputs=outputs, from_data=from_data, name=name, jit=jit
    )


def _class_material(owner: type, what: str) -> dict[str, Any]:
    """What a decorated class computes with: the source of its functions and its other
    attributes (by function, since Python finds a class's source only through its module)."""
    out: dict[str, Any] = {}
    for key, raw in sorted(owner.__dict__.items()):
        if key.startswith("__"):
            continue
        value = raw.__func__ if isinstance(raw, staticmethod | classmethod) else raw
        if isinstance(value, types.FunctionType):
            out[key] = {"source": normalized_source(value, what), "closure": _closure(value, what)}
        else:
            out[key] = _freeze(value, what, key)
    return out


def _make_recursive(
    init: Any,
    step: Any,
    owner: type | None,
    *,
    outputs: Sequence[str] | None,
    from_data: bool,
    name: str | None,
    jit: bool,
) -> type[RecursiveIndicator]:
    label = owner.__qualname__ if owner is not None else getattr(step, "__qualname__", step)
    what = f"sb.ind.recursive_indicator on {label!r}"
    for f in (init, step):
        _check_function(f, what)
    outs = _outputs(outputs if outputs is not None else ("value",), what)
    init_sig = _signature(init, what)
    step_sig = _signature(step, what)
    if not step_sig.parameters:
        raise InvalidParameterError(
            f"{what}: step takes the state first, then the inputs, e.g. def step(state, x)"
        )
    init_params = list(init_sig.parameters.values())
    for p in init_params:
        if p.kind is inspect.Parameter.POSITIONAL_ONLY:
            raise InvalidParameterError(
                f"{what}: init's parameter {p.name} is positional-only; streambt passes "
                "parameters by keyword"
            )
    inputs, step_params = _split(step_sig, None, what, skip=1)
    if jit:
        for p in step_params:
            if p.kind is inspect.Parameter.KEYWORD_ONLY:
                raise InvalidParameterError(
                    f"{what}: with jit=True numba passes step's parameters by position; "
                    f"declare {p.name} with a default after the inputs, e.g. "
                    f"def step(state, {', '.join(inputs) or 'x'}, {p.name}=...), not after *"
                )
    roles, fields = _bind_inputs(inputs, from_data, what)
    merged: dict[str, inspect.Parameter] = {p.name: p for p in init_params}
    for p in step_params:
        other = merged.get(p.name)
        if other is not None and other.default != p.default:
            raise InvalidParameterError(
                f"{what}: init and step both take {p.name} but with different defaults "
                f"({other.default!r} and {p.default!r}); give them the same default"
            )
        merged.setdefault(p.name, p)
    if owner is not None:
        qualname, module_obj = owner.__qualname__, owner
        source: Any = _class_material(owner, what)
    else:
        qualname = name or step.__qualname__
        module_obj = step
        source = [normalized_source(init, what), normalized_source(step, what)]
    identity, full = _identity(
        "recursive",
        qualname,
        {
            "source": source,
            "closure": [_closure(_unwrap(init), what), _closure(_unwrap(step), what)],
            "options": {
                "outputs": list(outs),
                "from_data": bool(from_data),
                "jit": bool(jit),
                "name": name,
            },
        },
    )
    short = name or (owner.__name__ if owner is not None else step.__name__)

    def make() -> type[RecursiveIndicator]:
        from ..kernels.user import recursive_kernel

        params = list(merged.values())
        namespace = _namespace(module_obj, short, (owner or step).__doc__)
        if owner is None:
            namespace["__qualname__"] = qualname
        namespace.update(
            identity=identity,
            source_digest=full,
            init_func=staticmethod(init),
            step_func=staticmethod(step),
            inputs=roles,
            data_fields=fields,
            outputs=outs,
            params=tuple(_param(p, None, what) for p in params),
            label_params=tuple(p.name for p in params),
        )
        cls: type[RecursiveIndicator] = type(short, (RecursiveIndicator,), namespace)
        recursive_kernel(
            identity,
            init_func=init,
            step_func=step,
            init_params=tuple(p.name for p in init_params),
            step_params=tuple(p.name for p in step_params),
            inputs=fields or roles,
            outputs=outs,
            label=short,
            jit=bool(jit),
        )
        return cls

    return _register(identity, make)  # type: ignore[return-value]
