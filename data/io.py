"""Reading tables from CSV, Parquet and Excel, and hashing the file they came from."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pandas as pd

from .errors import AllianceLearningError

READERS = {
    ".csv": pd.read_csv,
    ".parquet": pd.read_parquet,
    ".pq": pd.read_parquet,
    ".xlsx": pd.read_excel,
    ".xls": pd.read_excel,
}


class DataFileError(AllianceLearningError, ValueError):
    """A data file that cannot be read at all (missing, unknown format, unparsable)."""


def read_table(path: str | Path, *, sheet: str | int | None = None) -> pd.DataFrame:
    """Read a CSV, Parquet or Excel file, keeping every column as the user wrote it.

    IDs are read as strings (IDs are labels, and ``007`` must stay ``007``); other
    columns keep the reader's types, so that non-numeric codes can be reported, not coerced.
    ``sheet`` names the Excel sheet (default: the first one).
    """
    path = Path(path)
    reader = READERS.get(path.suffix.lower())
    if reader is None:
        raise DataFileError(f"{path}: unknown file type {path.suffix!r} "
                            f"(use {', '.join(sorted(READERS))})")
    if not path.is_file():
        raise DataFileError(f"{path}: file not found")
    if sheet is not None and reader is not pd.read_excel:
        raise DataFileError(f"{path}: a sheet ({sheet!r}) can only be chosen in an Excel file")
    try:
        if reader is pd.read_csv:
            return pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])
        if reader is pd.read_excel:
            return pd.read_excel(path, sheet_name=0 if sheet is None else sheet, dtype=str,
                                 keep_default_na=False, na_values=[""])
        return reader(path)
    except Exception as err:  # any parser failure is the file's problem, reported in one line
        raise DataFileError(f"{path}: cannot be read as {path.suffix} ({err})") from None


def file_sha256(path: str | Path) -> str:
    """SHA-256 hex digest of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
