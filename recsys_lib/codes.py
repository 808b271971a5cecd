"""Checked integer codes: the one place that decides what a user or item code may be.

A code is the 0-based position of a user or item (see ``preprocess.encode_ids``). Codes
index arrays and matrices, so anything that is not exactly a non-negative integer below
the number of users or items would be truncated or wrap around silently; ``as_codes``
refuses it instead, with a message that names the value and the range allowed.
"""
from __future__ import annotations

import numbers

import numpy as np

__all__ = ["as_codes"]

_INT64_MAX = np.iinfo(np.int64).max


def _range(what: str, n: int | None) -> str:
    if n is None:
        return f"{what} codes must be integers >= 0"
    if n == 0:
        return f"there are no {what}s, so no {what} code is valid"
    return f"{what} codes must be integers in 0..{n - 1}"


def _fail(what: str, value, problem: str, n: int | None) -> ValueError:
    return ValueError(f"{what} code {value!r} {problem}: {_range(what, n)}")


def _object_to_float(arr: np.ndarray, what: str, n: int | None) -> np.ndarray:
    """Python objects (e.g. a pandas nullable column) -> float64 or int64, checking each."""
    out = []
    for v in arr.tolist():
        if isinstance(v, (bool, np.bool_)):
            raise _fail(what, v, "is a boolean, not a code", n)
        if isinstance(v, numbers.Integral):
            out.append(int(v))
        elif isinstance(v, numbers.Real):
            out.append(float(v))
        else:
            raise _fail(what, v, f"is a {type(v).__name__}, not a number", n)
    if all(isinstance(v, int) for v in out):
        try:
            return np.array(out, dtype=np.int64)
        except OverflowError:
            pass
    return np.array(out, dtype=np.float64)


def as_codes(values, n: int | None = None, what: str = "user") -> np.ndarray:
    """``values`` as a 1-D int64 array of codes, or ``ValueError`` saying what is wrong.

    Refused: booleans, non-integer or non-finite floats (``0.5``, NaN, inf), negative
    values, non-numbers and, when ``n`` (the number of users or items) is given, codes
    ``>= n``. Integer-valued floats such as ``3.0`` are accepted. The message names
    ``what`` ("user", "item", ...), the first offending value and the allowed range.
    """
    if n is not None:
        if isinstance(n, (bool, np.bool_)) or not isinstance(n, numbers.Integral) or n < 0:
            raise ValueError(f"the number of {what}s must be an integer >= 0, got {n!r}")
        n = int(n)
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise ValueError(f"{what} codes must be a 1-D array, got shape {arr.shape}")
    if arr.dtype == object:
        arr = _object_to_float(arr, what, n)
    kind = arr.dtype.kind
    if kind == "b":
        raise ValueError(f"{what} codes must be integers, got booleans: {_range(what, n)}")
    if kind not in "iuf":
        raise ValueError(f"{what} codes must be integers, got dtype {arr.dtype}: {_range(what, n)}")
    if arr.size == 0:
        return np.zeros(0, dtype=np.int64)
    if kind == "f":
        bad = ~np.isfinite(arr)
        if bad.any():
            raise _fail(what, float(arr[bad][0]), "is not a finite number", n)
        bad = arr != np.floor(arr)
        if bad.any():
            raise _fail(what, float(arr[bad][0]), "is not an integer", n)
    if kind != "u":
        bad = arr < 0
        if bad.any():
            v = arr[bad][0]
            raise _fail(what, int(v) if kind == "i" else float(v), "is negative", n)
    if n is not None:
        bad = arr > n - 1
    elif kind == "f":
        bad = arr >= 2.0 ** 63  # float64(2**63 - 1) rounds up to 2**63
    else:
        bad = arr > _INT64_MAX
    if bad.any():
        v = arr[bad][0]
        raise _fail(what, int(v) if kind in "iu" else float(v), "is out of range", n)
    return arr.astype(np.int64)
