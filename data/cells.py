"""Reading single cells of a data file: codes as numbers, IDs as strings, values as shown in errors.

Shared by the wide-form validator (:mod:`data.validate`) and the raters' coding sheets
(:mod:`data.coded`), so that both read and report a cell the same way.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow
import pyarrow.compute

__all__ = ["as_id", "describe_scale", "show_value", "to_float"]


def describe_scale(scale) -> str:
    if scale.kind == "ordinal":
        return f"{scale.name} takes 1..{scale.n_categories}"
    if scale.kind == "binary":
        return "binary takes 0 or 1"
    if scale.kind == "count":
        return "count takes 0, 1, 2, ..."
    return "continuous"


def to_float(values: pd.Series) -> pd.Series:
    """Codes as float64; anything that is not a number becomes NaN (and is reported)."""
    if pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
        return values.astype("float64")
    if getattr(values.dtype, "storage", None) == "pyarrow":
        try:  # fast path for clean arrow string columns: ~50x faster than pandas' astype
            number = pyarrow.compute.cast(pyarrow.array(values), pyarrow.float64())
            return pd.Series(number.to_numpy(zero_copy_only=False), index=values.index)
        except (pyarrow.ArrowInvalid, pyarrow.ArrowNotImplementedError):
            pass
    return pd.to_numeric(values, errors="coerce").astype("float64")


def as_id(values: pd.Series) -> pd.Series:
    """IDs as strings: 7 and 7.0 (Parquet/Excel numbers) become "7"; blank cells become missing."""
    if pd.api.types.is_float_dtype(values):
        whole = values.dropna() % 1 == 0
        if whole.all():
            values = values.astype("Int64")
    ids = values.astype("str")
    return ids.mask(ids.str.strip() == "")


def show_value(value) -> str:
    """A value as the user would recognise it: strings quoted, whole floats as integers."""
    if isinstance(value, (float, np.floating)) and np.isfinite(value) and value == int(value):
        return str(int(value))
    if isinstance(value, str):
        return repr(value)
    return str(value)
