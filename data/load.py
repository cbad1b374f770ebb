"""Loading a case survey from a file: read, validate, split into levels.

:func:`load_survey` is the one entry point an analyst needs: it reads a CSV, Parquet or
Excel file, validates it against the codebook (raising :class:`DataValidationError` with
every problem when there are errors) and returns a :class:`CaseSurvey`.
:func:`validate_file` gives the :class:`ValidationReport` without raising on data problems.

Reading the file (encoding, delimiter, Excel sheets, line numbers, the file's layout
problems) is :func:`data.io.read_rows`'s; rows are named by their line number in the file
for CSV and Excel, and by their 1-based row number for Parquet, which has no lines.
"""

from __future__ import annotations

import logging
from pathlib import Path

from .codebook import Codebook, load_codebook
from .io import file_sha256, read_rows
from .survey import CaseSurvey
from .validate import ValidationReport, check_wide

logger = logging.getLogger(__name__)

FORMS = ("wide", "coded")


def load_survey(path: str | Path, codebook: Codebook | str | Path | None = None, *,
                sheet: str | int | None = None, form: str = "wide",
                collapse: str = "median", encoding: str | None = None,
                sep: str | None = None) -> CaseSurvey:
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
    encoding, sep : str, optional
        A CSV file's encoding and delimiter (default: detected, see :mod:`data.io`).

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

        report, coded = check_coded_file(path, codebook, collapse=collapse, sheet=sheet,
                                         encoding=encoding, sep=sep)
        report.raise_for_errors()
        _log_warnings(report)
        return coded.survey
    report, clean = _check_file(path, codebook, sheet=sheet, encoding=encoding, sep=sep)
    report.raise_for_errors()
    _log_warnings(report)
    return CaseSurvey.from_wide(clean, codebook, source=str(path), sha256=file_sha256(path))


def validate_file(path: str | Path, codebook: Codebook | str | Path | None = None, *,
                  sheet: str | int | None = None, form: str = "wide",
                  collapse: str = "median", encoding: str | None = None,
                  sep: str | None = None) -> ValidationReport:
    """Validate a case-survey file and return every problem found.

    ``form``, ``collapse``, ``encoding`` and ``sep`` are as in :func:`load_survey`. Never
    raises on problems in the data; raises :class:`DataFileError` when the file cannot be read and
    :class:`CodebookError` for a bad codebook.
    """
    if form not in FORMS:
        raise ValueError(f"form must be one of {', '.join(FORMS)}, got {form!r}")
    codebook = _codebook(codebook)
    if form == "coded":
        from .coded import check_coded_file

        report, _ = check_coded_file(path, codebook, collapse=collapse, sheet=sheet,
                                     encoding=encoding, sep=sep)
        return report
    report, _ = _check_file(path, codebook, sheet=sheet, encoding=encoding, sep=sep)
    return report


def _log_warnings(report: ValidationReport) -> None:
    for problem in report.warnings:
        logger.warning("%s", problem)


def _codebook(codebook) -> Codebook:
    return codebook if isinstance(codebook, Codebook) else load_codebook(codebook)


def _check_file(path, codebook, *, sheet=None, encoding=None, sep=None):
    table = read_rows(path, sheet=sheet, encoding=encoding, sep=sep)
    return check_wide(table.frame, codebook, file=table.file, lines=table.lines,
                      row_label=table.row_label, source=table)
