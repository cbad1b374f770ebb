"""One scalar as JSON wants it: the single rule for every JSON file the toolkit writes."""

from __future__ import annotations

import math


def json_scalar(value):
    """A JSON-safe Python scalar.

    NumPy and 0-d xarray/NumPy values become Python ones; booleans stay booleans,
    integers integers; NaN and infinities become ``None`` (JSON ``null``: "not available").
    Strings and ``None`` pass through.
    """
    if getattr(value, "ndim", None) == 0 and hasattr(value, "item"):
        value = value.item()  # NumPy scalar or 0-d array / DataArray
    if value is None or isinstance(value, bool | str | int):
        return value
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None if _missing(value) else value
    return value if math.isfinite(value) else None


def _missing(value) -> bool:
    import pandas as pd

    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False
