"""Argument checks of the pure-Python core, with the messages of the C++ bindings (csrc/bindings.cpp): an array
of the right dtype, one of the allowed shapes (-1: any size), C-contiguous; failures are InvalidInputError."""

from __future__ import annotations

from typing import Any, List, Sequence, Tuple

import numpy as np

from ..errors import InvalidInputError


def require(ok: bool, message: str) -> None:
    if not ok:
        raise InvalidInputError(message)


def as_array(obj: Any, name: str) -> np.ndarray:
    if not isinstance(obj, np.ndarray):
        raise InvalidInputError(f"{name}: expected a numpy array, got {type(obj).__name__}")
    return obj


def leading_dim(obj: Any, name: str) -> int:
    a = as_array(obj, name)
    return int(a.shape[0]) if a.ndim > 0 else 0


def _matches(a: np.ndarray, dims: Sequence[int]) -> bool:
    return a.ndim == len(dims) and all(d < 0 or a.shape[i] == d for i, d in enumerate(dims))


def checked(obj: Any, name: str, dtype: Any, shapes: List[Sequence[int]]) -> Tuple[np.ndarray, int]:
    """(the array, index of the shape it matched); InvalidInputError naming what is wrong."""
    a = as_array(obj, name)
    want = np.dtype(dtype)
    if a.dtype.kind != want.kind or a.dtype.itemsize != want.itemsize or not a.dtype.isnative:
        raise InvalidInputError(f"{name}: expected dtype {want}, got {a.dtype}")
    for k, dims in enumerate(shapes):  # noqa: B007 - k, the matching alternative, is returned
        if _matches(a, dims):
            break
    else:
        if len(shapes) == 1:
            dims = shapes[0]
            if a.ndim != len(dims):
                raise InvalidInputError(f"{name}: expected {len(dims)}-D array, got {a.ndim}-D")
            i = next(i for i, d in enumerate(dims) if d >= 0 and a.shape[i] != d)
            raise InvalidInputError(f"{name}: dimension {i} must be {dims[i]}, got {a.shape[i]}")
        alts = " or ".join("(" + ", ".join("n" if d < 0 else str(d) for d in dims) + ")" for dims in shapes)
        raise InvalidInputError(f"{name}: expected shape {alts}")
    if not a.flags.c_contiguous:
        raise InvalidInputError(f"{name}: array must be C-contiguous (use numpy.ascontiguousarray)")
    return a, k


def pair(value: Any, name: str, kind: type = int) -> Tuple[Any, Any]:
    try:
        first, second = value
        return kind(first), kind(second)
    except (TypeError, ValueError):
        raise InvalidInputError(f"{name} must be a pair of {kind.__name__}s, got {value!r:.40}") from None


def f32(value: float) -> float:
    """A Python number as the float32 the C++ parameter holds."""
    return float(np.float32(value))
