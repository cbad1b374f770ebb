"""Loading a case survey from a file: read, validate, split into levels.

:func:`load_survey` is the one entry point an analyst needs: it reads a CSV, Parquet or
Excel file, validates it against the codebook (raising :class:`DataValidationError` with
every problem when there are errors) and returns a :class:`CaseSurvey`.
:func:`validate_file` gives the :class:`ValidationReport` without raising on data problems.

Rows are named by their line number in the file (header = line 1) for CSV and Excel, and
by their 1-based row number for Parquet, which has no lines.
"""

from __future__ import annotations

import csv
import logging
from pathlib import Path

import numpy as np

from .codebook import Codebook, load_codebook
from .io import file_sha256, read_table
from .survey import CaseSurvey
from .validate import ValidationReport, check_wide

logger = logging.getLogger(__name__)

FORMS = ("wide", "coded")


def load_survey(path: str | Path, codebook: Codebook | str | Path | None = None, *,
                sheet: str | int | None = None, form: str = "wide",
                collapse: str = "median") -> CaseSurvey:
    """Read, validate and split a case survey.

    Parameters
    ----------
    path : str or Path
        CSV, Parquet or Excel file.
    codebook : Codebook, str or Path, optional
        A codebook or the path of its TOML file; ``None`` uses the shipped default.
    sheet : str or int, optional
        Excel sheet (default: the first).
    form : {"wide", "coded"}
        ``wide``: one row per individual. ``coded``: the long coding sheet (condition,
        rater, value and the ID columns), validated line by line, then collapsed over
        raters with ``collapse`` (``data.coded.collapse_raters``) and validated again
        in wide form; see :mod:`data.coded`, whose ``load_coded`` also keeps the raters'
        codes and their reliability.
    collapse : {"median", "mean", "mode"}
        How raters are collapsed for ``form="coded"``.

    Returns
    -------
    CaseSurvey

    Raises
    ------
    DataFileError
        When the file cannot be read at all.
    DataValidationError
        When the data have errors; its ``report`` lists every problem.
    """
    if form not in FORMS:
        raise ValueError(f"form must be one of {', '.join(FORMS)}, got {form!r}")
    codebook = _codebook(codebook)
    if form == "coded":
        from .coded import check_coded_file  # the coded form's own module

        report, coded = check_coded_file(path, codebook, collapse=collapse, sheet=sheet)
        report.raise_for_errors()
        _log_warnings(report)
        return coded.survey
    report, clean = _check_file(path, codebook, sheet=sheet)
    report.raise_for_errors()
    _log_warnings(report)
    return CaseSurvey.from_wide(clean, codebook, source=str(path), sha256=file_sha256(path))


def validate_file(path: str | Path, codebook: Codebook | str | Path | None = None, *,
                  sheet: str | int | None = None, form: str = "wide",
                  collapse: str = "median") -> ValidationReport:
    """Validate a case-survey file and return every problem found.

    ``form`` and ``collapse`` are as in :func:`load_survey`. Never raises on problems in
    the data; raises :class:`DataFileError` when the file cannot be read and
    :class:`CodebookError` for a bad codebook.
    """
    if form not in FORMS:
        raise ValueError(f"form must be one of {', '.join(FORMS)}, got {form!r}")
    codebook = _codebook(codebook)
    if form == "coded":
        from .coded import check_coded_file

        report, _ = check_coded_file(path, codebook, collapse=collapse, sheet=sheet)
        return report
    report, _ = _check_file(path, codebook, sheet=sheet)
    return report


def _log_warnings(report: ValidationReport) -> None:
    for problem in report.warnings:
        logger.warning("%s", problem)


def _codebook(codebook) -> Codebook:
    return codebook if isinstance(codebook, Codebook) else load_codebook(codebook)


def _check_file(path, codebook, *, sheet=None):
    path = Path(path)
    frame = read_table(path, sheet=sheet)
    suffix = path.suffix.lower()
    if suffix == ".csv":
        lines, label = csv_line_numbers(path, len(frame)), "line"
    elif suffix in (".xlsx", ".xls"):
        lines, label = np.arange(2, len(frame) + 2), "line"  # row 1 of the sheet is the header
    else:
        lines, label = np.arange(1, len(frame) + 1), "row"
    return check_wide(frame, codebook, file=str(path), lines=lines, row_label=label)


def csv_line_numbers(path: str | Path, n_rows: int) -> np.ndarray:
    """Line number in the file of each data row that pandas read from a CSV file.

    When every record is one line (the usual case, checked by counting newlines), row
    ``i`` is on line ``i + 2``. Otherwise (blank lines, which pandas skips, or quoted
    values spanning lines) the file is walked with :mod:`csv` to find each record's line.
    """
    n_lines = _count_lines(path)
    if n_lines == n_rows + 1:
        return np.arange(2, n_rows + 2)
    starts = []
    with open(path, newline="", encoding="utf-8-sig", errors="replace") as fh:
        reader = csv.reader(fh)
        header, previous_end = True, 0
        for record in reader:
            start, previous_end = previous_end + 1, reader.line_num
            blank = len(record) == 0 or (len(record) == 1 and not record[0].strip())
            if blank:  # pandas skips blank and whitespace-only lines
                continue
            if header:
                header = False
            else:
                starts.append(start)
    if len(starts) != n_rows:
        logger.warning("%s: could not match rows to lines (%d records, %d rows); "
                       "row numbers assume one line per record", path, len(starts), n_rows)
        return np.arange(2, n_rows + 2)
    return np.asarray(starts)


def _count_lines(path) -> int:
    count, last = 0, b"\n"
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            count += block.count(b"\n")
            last = block[-1:]
    return count + (last != b"\n")
