"""Reading tables from CSV, Parquet and Excel, as the user's file holds them, line by line.

:func:`read_rows` is the one reader of the validators (:mod:`data.load`, :mod:`data.coded`):
it returns a :class:`Table` with every cell as text, the line (or row) each record came from,
and the problems of the file's layout that a validator reports beside its own:

- **encoding** (CSV): a byte-order mark decides (UTF-8, UTF-16, UTF-32); else UTF-8, else
  Windows-1252 / latin-1 with a warning naming the first line that is not UTF-8. With
  ``encoding`` given, a byte it cannot decode is an error naming the line and an encoding
  to try;
- **delimiter** (CSV): comma, semicolon, tab or bar, whichever splits the first lines into
  the same, largest number of fields (``sep`` to choose). With a semicolon or tab, codes
  written with a decimal comma (``3,5``) are read as numbers (:attr:`Table.decimal`);
- ``ragged-row``: a record with more or fewer values than the header (an error: a short
  row would silently lose its last answers, a long one shifts them);
- ``spreadsheet-error``: a cell holding a spreadsheet error (``#N/A``, ``#VALUE!``,
  ``#DIV/0!``, ...), in Excel or in a CSV exported from it; the cell is then read as empty
  so that it is reported once;
- ``title-row``: lines above the header (a title); the table is read from the header;
- ``header-spaces``: column names with spaces around them (stripped, a warning);
- an Excel ``sheet`` that does not exist: :class:`DataFileError` naming the sheets there are
  (:attr:`Table.sheets` also lets a validator say which sheet holds a missing column).

Blank lines are skipped (as every spreadsheet program does); cells holding only spaces are
empty. Rows are named by their line number in the file (header = line 1, or the line it is
on) for CSV and Excel, and by their 1-based row number for Parquet, which has no lines.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from .errors import AllianceLearningError

READERS = {
    ".csv": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".xlsx": "excel",
    ".xls": "excel",
}
#: Delimiters tried, in order of preference when two split the file equally well.
DELIMITERS = (",", ";", "\t", "|")
#: Spreadsheet error values (Excel, LibreOffice, Google Sheets) as they appear in a cell.
SPREADSHEET_ERRORS = frozenset({
    "#N/A", "#N/A N/A", "#NA", "#VALUE!", "#DIV/0!", "#REF!", "#NAME?", "#NUM!", "#NULL!",
    "#SPILL!", "#CALC!", "#FIELD!", "#BLOCKED!", "#CONNECT!", "#BUSY!", "#UNKNOWN!",
    "#GETTING_DATA", "#EXTERNAL!", "#PYTHON!", "#ERROR!"})
_LIBREOFFICE_ERROR = re.compile(r"Err:\d{3}")
_BOMS = ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"),
         (codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"),
         (codecs.BOM_UTF16_BE, "utf-16"))
_DECIMAL_COMMA = re.compile(r"\s*[+-]?\d+,\d+\s*")
#: Lines looked at to find the delimiter and a title row.
_SAMPLE_LINES = 50


class DataFileError(AllianceLearningError, ValueError):
    """A data file that cannot be read at all (missing, unknown format, unparsable)."""


@dataclass(frozen=True)
class Issue:
    """A problem of the file's layout, reported by the validator as one of its own."""

    severity: str          # "error" or "warning"
    rule: str
    message: str
    column: str | None = None
    rows: tuple[int, ...] = ()
    count: int = 1         # cells or records it stands for


@dataclass
class Table:
    """A data file as read: cells as text (Parquet: as typed), and where each row came from.

    Attributes
    ----------
    frame : pandas.DataFrame
        One row per record under the header; empty cells are missing.
    lines : numpy.ndarray
        Line (CSV, Excel) or 1-based row (Parquet) of each row of ``frame``.
    row_label : {"line", "row"}
    file : str
    issues : list of Issue
        Problems of the layout (module docstring).
    decimal : {".", ","}
        The decimal mark of the codes.
    encoding, sep : str or None
        What a CSV file was read with.
    sheet : str or None
        The Excel sheet read; ``sheets`` maps each sheet of the workbook to its first
        non-empty row (its column names, most likely).
    header_line : int or None
        The line of the column names (CSV, Excel).
    """

    frame: pd.DataFrame
    lines: np.ndarray
    row_label: str
    file: str
    issues: list[Issue] = field(default_factory=list)
    decimal: str = "."
    encoding: str | None = None
    sep: str | None = None
    sheet: str | None = None
    sheets: dict[str, list[str]] = field(default_factory=dict)
    header_line: int | None = None

    def where_columns(self, names) -> str:
        """A hint for columns missing from the table: the sheet that has them, or the delimiter."""
        names = [n for n in names if n not in self.frame.columns]
        if not names:
            return ""
        if self.sheets:
            holders = [s for s, header in self.sheets.items()
                       if s != self.sheet and set(names) & set(header)]
            listed = ", ".join(repr(s) for s in self.sheets)
            if holders:
                held = [n for n in names if n in self.sheets[holders[0]]]
                return (f" (sheet {self.sheet!r} was read; sheet {holders[0]!r} has "
                        f"{held[0]!r}: pass --sheet {holders[0]!r}; the sheets are {listed})")
            return f" (sheet {self.sheet!r} was read; the sheets are {listed}; choose with --sheet)"
        if self.sep is not None and self.frame.shape[1] <= 1:
            header = str(self.frame.columns[0]) if self.frame.shape[1] else ""
            found = [d for d in DELIMITERS if d != self.sep and d in header]
            guess = ("tab" if found[0] == "\t" else found[0]) if found else ";"
            return (f" (the header on line {self.header_line} is one column when split at "
                    f"{self.sep!r}: pass the file's delimiter with --sep {guess!r})")
        return ""


def read_table(path: str | Path, *, sheet: str | int | None = None, encoding: str | None = None,
               sep: str | None = None) -> pd.DataFrame:
    """Read a CSV, Parquet or Excel file into a table (see :func:`read_rows`)."""
    return read_rows(path, sheet=sheet, encoding=encoding, sep=sep).frame


def read_rows(path: str | Path, *, sheet: str | int | None = None, encoding: str | None = None,
              sep: str | None = None) -> Table:
    """Read a CSV, Parquet or Excel file, keeping every cell as the user wrote it.

    Cells are read as text (IDs are labels, and ``007`` must stay ``007``; codes that are
    not numbers must reach the validator to be reported, not coerced); Parquet keeps its
    types. ``sheet`` names the Excel sheet (default: the first one); ``encoding`` and
    ``sep`` override what is detected in a CSV file (module docstring).

    Raises
    ------
    DataFileError
        When the file cannot be read at all, naming the line where possible.
    """
    path = Path(path)
    kind = READERS.get(path.suffix.lower())
    if kind is None:
        raise DataFileError(f"{path}: unknown file type {path.suffix!r} "
                            f"(use {', '.join(sorted(READERS))})")
    if path.is_dir():
        raise DataFileError(f"{path}: is a directory, not a data file")
    if not path.is_file():
        raise DataFileError(f"{path}: file not found")
    if sheet is not None and kind != "excel":
        raise DataFileError(f"{path}: a sheet ({sheet!r}) can only be chosen in an Excel file")
    if (encoding is not None or sep is not None) and kind != "csv":
        raise DataFileError(f"{path}: --encoding and --sep apply to CSV files only")
    if kind == "csv":
        return _read_csv(path, encoding, sep)
    if kind == "excel" and path.suffix.lower() == ".xlsx":
        return _read_xlsx(path, sheet)
    try:
        if kind == "excel":  # .xls: the old binary format, through pandas (xlrd)
            frame = pd.read_excel(path, sheet_name=0 if sheet is None else sheet, dtype=str,
                                  keep_default_na=False, na_values=[""])
            return _finish(frame, np.arange(2, len(frame) + 2), "line", str(path))
        frame = pd.read_parquet(path)
    except Exception as err:  # any parser failure is the file's problem, reported in one line
        raise DataFileError(f"{path}: cannot be read as {path.suffix} ({err})") from None
    return Table(frame, np.arange(1, len(frame) + 1), "row", str(path))


# -- CSV ------------------------------------------------------------------------------------------
def _read_csv(path: Path, encoding: str | None, sep: str | None) -> Table:
    raw = path.read_bytes()
    text, encoding, issues = _decode(raw, encoding, path)
    if sep is not None:
        sep = _check_sep(sep, path)
    else:
        sep = _sniff_delimiter(text)
    records, starts = _records(text, sep, path)
    table = _from_records(records, starts, str(path), issues)
    table.encoding, table.sep = encoding, sep
    if sep != "," and _has_decimal_commas(table.frame):
        table.decimal = ","
    return table


def _records(text: str, sep: str, path: Path) -> tuple[list[list[str]], np.ndarray]:
    """The file's records without the blank lines, and the line each one starts on."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=sep)
    try:
        records = list(reader)  # the csv module's C loop: no Python per record
    except csv.Error as err:
        raise DataFileError(f"{path}:{reader.line_num + 1}: cannot be read as CSV ({err})") from None
    n_lines = text.count("\n") + (not text.endswith("\n") and bool(text))
    if len(records) == n_lines:  # one record per line (no value spans lines)
        starts = np.arange(1, len(records) + 1)
    else:  # walk again, following each record's first line
        starts, end = [], 0
        reader = csv.reader(io.StringIO(text, newline=""), delimiter=sep)
        for _ in reader:
            starts.append(end + 1)
            end = reader.line_num
        starts = np.asarray(starts)
    lengths = np.fromiter(map(len, records), dtype=np.int64, count=len(records))
    blank = lengths == 0
    for i in np.flatnonzero(lengths == 1):  # a line of spaces only is blank too
        blank[i] = not records[i][0].strip()
    if blank.any():
        records = [r for r, b in zip(records, blank) if not b]
        starts = starts[~blank]
    return records, starts


def _check_sep(sep: str, path: Path) -> str:
    sep = {"\\t": "\t", "tab": "\t"}.get(sep, sep)
    if len(sep) != 1:
        raise DataFileError(f"{path}: --sep must be one character (',', ';', 'tab', '|'), got {sep!r}")
    return sep


def _decode(raw: bytes, encoding: str | None, path: Path) -> tuple[str, str, list[Issue]]:
    """The file's text, the encoding it was read with, and a warning when it was guessed."""
    if encoding is not None:
        try:
            codecs.lookup(encoding)
        except LookupError:
            raise DataFileError(f"{path}: unknown encoding {encoding!r} (e.g. utf-8, cp1252, "
                                "latin-1, utf-16)") from None
        try:
            return raw.decode(encoding), encoding, []
        except UnicodeDecodeError as err:
            raise DataFileError(f"{path}:{_line_of(raw, err.start)}: byte "
                                f"0x{raw[err.start]:02x} cannot be read as {encoding}; "
                                f"try {_other_encoding(encoding, raw)}") from None
    for bom, name in _BOMS:
        if raw.startswith(bom):
            try:
                return raw.decode(name), name, []
            except UnicodeDecodeError as err:
                raise DataFileError(f"{path}:{_line_of(raw, err.start)}: the file starts with a "
                                    f"{name} byte-order mark but byte 0x{raw[err.start]:02x} "
                                    f"is not {name}; pass --encoding") from None
    head = raw[:4096]
    if head.count(0) > len(head) // 4:  # UTF-16 without a byte-order mark: every other byte 0
        name = "utf-16-le" if head[1::2].count(0) > head[0::2].count(0) else "utf-16-be"
        try:
            return raw.decode(name), name, []
        except UnicodeDecodeError:
            raise DataFileError(f"{path}: holds NUL bytes but is not UTF-16 text: is it a "
                                "CSV file? (pass --encoding if it is)") from None
    try:
        return raw.decode("utf-8"), "utf-8", []
    except UnicodeDecodeError as err:
        line, byte = _line_of(raw, err.start), raw[err.start]
    for name in ("cp1252", "latin-1"):  # latin-1 decodes any byte: the last resort
        try:
            text = raw.decode(name)
        except UnicodeDecodeError:
            continue
        return text, name, [Issue(
            "warning", "encoding",
            f"the file is not UTF-8 (byte 0x{byte:02x} on line {line}); read as {name} "
            f"(Windows / Western European). If names or labels look wrong, pass the file's "
            "encoding with --encoding", rows=(line,))]
    raise AssertionError("latin-1 decodes every byte")  # pragma: no cover


def _line_of(raw: bytes, offset: int) -> int:
    return raw.count(b"\n", 0, offset) + 1


def _other_encoding(encoding: str, raw: bytes) -> str:
    name = codecs.lookup(encoding).name
    if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)) or raw[:4096].count(0) > 8:
        return "--encoding utf-16, or leave --encoding out to detect it"
    if name == "utf-8":
        return "--encoding cp1252 (Windows) or --encoding latin-1"
    if name.startswith("utf-16"):
        return "--encoding utf-8 or --encoding cp1252"
    return "--encoding utf-8 or --encoding utf-16"


def _sniff_delimiter(text: str) -> str:
    """The delimiter that splits most sample lines into the same, largest number of fields."""
    sample = [line for line in text[:1 << 16].splitlines()[:_SAMPLE_LINES * 2] if line.strip()]
    sample = sample[:_SAMPLE_LINES]
    best, best_score = ",", (0, 0)
    for candidate in DELIMITERS:
        counts = [len(r) for r in csv.reader(sample, delimiter=candidate)]
        if not counts:
            continue
        values, freq = np.unique(counts, return_counts=True)
        mode = int(values[np.argmax(freq)])
        # most common field count, if more than one field and on at least half the lines
        score = (mode, int(freq.max())) if mode > 1 and freq.max() * 2 >= len(counts) else (0, 0)
        if score > best_score:
            best, best_score = candidate, score
    return best


def _has_decimal_commas(frame: pd.DataFrame) -> bool:
    for column in frame.columns[:200]:
        values = frame[column].dropna()
        if len(values) and values.iloc[:1000].str.fullmatch(_DECIMAL_COMMA).any():
            return True
    return False


# -- Excel ------------------------------------------------------------------------------------------
def _read_xlsx(path: Path, sheet: str | int | None) -> Table:
    import openpyxl

    try:
        book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as err:
        raise DataFileError(f"{path}: cannot be read as .xlsx ({err})") from None
    try:
        names = book.sheetnames
        listed = ", ".join(repr(n) for n in names)
        if sheet is None:
            name = names[0]
        elif isinstance(sheet, int):
            if not 0 <= sheet < len(names):
                raise DataFileError(f"{path}: no sheet number {sheet} (0-based); the sheets are {listed}")
            name = names[sheet]
        elif sheet in names:
            name = sheet
        else:
            raise DataFileError(f"{path}: no sheet {sheet!r}; the sheets are {listed}")
        headers = {}
        if len(names) > 1:  # the first filled row of each sheet, to say where a column is
            for other in names:
                for row in book[other].iter_rows(max_row=10, values_only=True):
                    cells = [_cell_text(v) for v in row]
                    if any(c is not None for c in cells):
                        headers[other] = [c.strip() for c in cells if c is not None]
                        break
                else:
                    headers[other] = []
        records, starts = [], []
        for number, row in enumerate(book[name].iter_rows(values_only=True), start=1):
            cells = [_cell_text(v) for v in row]
            while cells and cells[-1] is None:  # Excel rows have no length of their own
                cells.pop()
            if cells:
                records.append(cells)
                starts.append(number)
    except DataFileError:
        raise
    except Exception as err:
        raise DataFileError(f"{path}: cannot be read as .xlsx ({err})") from None
    finally:
        book.close()
    table = _from_records(records, starts, str(path), [], excel=True)
    table.sheet, table.sheets = name, headers
    return table


def _cell_text(value) -> str | None:
    """An Excel cell as text: whole numbers without ``.0``, blank cells as None."""
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, bool):
        return str(value).upper()
    text = str(value)
    return text if text.strip() else None


# -- both ------------------------------------------------------------------------------------------
def _from_records(records: list[list], starts, file: str, issues: list[Issue], *,
                  excel: bool = False) -> Table:
    """A table from the records under the header: layout problems found, cells as text."""
    starts = np.asarray(starts, dtype=np.int64)
    if not records:
        return Table(pd.DataFrame(), np.zeros(0, np.int64), "line", file, issues)
    first = _title_rows(records)
    if first:
        shown = " / ".join(repr(" ".join(c for c in r if c)) for r in records[:first])[:120]
        word = "lines" if first > 1 else "line"
        above = ", ".join(str(s) for s in starts[:first])
        issues.append(Issue(
            "error", "title-row",
            f"{word} {above} ({shown}) above the column names on line {starts[first]}: "
            f"delete {'them' if first > 1 else 'it'} so that the column names are the "
            "first row", rows=tuple(int(n) for n in starts[:first]), count=first))
        records, starts = records[first:], starts[first:]
    header, body = records[0], records[1:]
    lines = np.asarray(starts[1:], dtype=np.int64)
    width = len(header)
    names = [(c or "").strip() for c in header]
    spaced = [c for c, n in zip(header, names) if c is not None and c != n]
    if spaced:
        issues.append(Issue("warning", "header-spaces",
                            f"spaces around column name{'s' * (len(spaced) > 1)} "
                            f"{', '.join(repr(c) for c in spaced)} removed",
                            ", ".join(n.strip() for n in spaced), rows=(int(starts[0]),)))
    actual = np.fromiter((len(r) for r in body), dtype=np.int64, count=len(body))
    # blank cells at the end of an Excel row are nothing (the row is trimmed): never short
    lengths = np.maximum(actual, width) if excel else actual.copy()
    for i in np.flatnonzero(lengths > width):  # empty cells past the header hold nothing
        if not any(c and c.strip() for c in body[i][width:]):
            lengths[i] = width
    for bad, what in ((lengths > width, "more"), (lengths < width, "fewer")):
        if bad.any():
            issues.append(_ragged(what, lines[bad], lengths[bad], width, starts[0], excel))
    if (actual != width).any():
        body = [r[:width] if len(r) > width else r + [None] * (width - len(r)) for r in body]
    columns = [_text_column(c) for c in (zip(*body) if body else [()] * width)]
    # a column without a name: dropped when empty too (trailing delimiters), else named
    keep = [j for j, (column, _) in enumerate(columns) if names[j] or column.notna().any()]
    names = [names[j] or f"unnamed column {j + 1}" for j in keep]
    columns = [columns[j] for j in keep]
    frame = pd.concat([c for c, _ in columns], axis=1, ignore_index=True) if columns else \
        pd.DataFrame(index=range(len(body)))
    frame.columns = names
    table = Table(frame, lines, "line", file, issues, header_line=int(starts[0]))
    _spreadsheet_errors(table, [j for j, (_, maybe) in enumerate(columns) if maybe])
    return table


def _text_column(cells) -> tuple[pd.Series, bool]:
    """One column of cells as pandas' text dtype, empty and space-only cells missing; and
    whether a cell may hold a spreadsheet error (arrow's compute: fast on big files).
    """
    array = pa.array(cells, type=pa.large_string())
    empty = pc.equal(pc.utf8_trim_whitespace(array), "")
    maybe = pc.any(pc.match_substring_regex(array, r"^\s*(#|Err:)")).as_py()
    column = pd.Series(pc.if_else(empty, pa.scalar(None, pa.large_string()), array), dtype="str")
    return column, bool(maybe)


def _title_rows(records: list[list]) -> int:
    """How many records above the header are a title: under half as many filled cells as
    the most common record of the first lines (the header and the data).
    """
    filled = [sum(1 for c in r if c is not None and str(c).strip()) for r in records[:20]]
    values, freq = np.unique(filled, return_counts=True)
    usual = int(values[np.argmax(freq)])
    if usual < 2 or filled[0] * 2 >= usual:
        return 0
    for k, n in enumerate(filled[:10]):
        if n >= 2 and n * 2 >= usual:
            return k
    return 0


def _ragged(what, lines, lengths, width, header_line, excel) -> Issue:
    n = len(lines)
    shown = ", ".join(f"{int(k)} ({int(v)} value{'s' * bool(v != 1)})"
                      for k, v in zip(lines[:20], lengths[:20]))
    shown = f"line{'s' * (n > 1)} {shown}" + (f", ... ({n:,} lines)" if n > 20 else "")
    if excel:
        message = (f"{n:,} row{'s' * (n > 1)} with values right of the last named column: "
                   f"{shown}: name the column or move the values")
    elif what == "more":
        message = (f"{n:,} line{'s' * (n > 1)} with more values than the {width} column names "
                   f"on line {header_line}: {shown}: a delimiter inside a value? quote the "
                   "value, or check --sep")
    else:
        message = (f"{n:,} line{'s' * (n > 1)} with fewer values than the {width} column names "
                   f"on line {header_line}: {shown}: answers are missing or shifted; keep a "
                   "missing code as an empty cell between delimiters")
    return Issue("error", "ragged-row", message, None, tuple(int(x) for x in lines[:20]),
                 count=n)


def _spreadsheet_errors(table: Table, positions=None) -> None:
    """Report cells holding a spreadsheet error, per column; then read them as empty.

    ``positions``: the only columns that may hold one (default: all).
    """
    frame = table.frame
    for j in range(frame.shape[1]) if positions is None else positions:
        column = frame.columns[j]
        values = frame.iloc[:, j]
        if frame.columns.tolist().count(column) > 1:  # repeated name: the validator says so
            continue
        text = values.dropna().astype("str").str.strip()
        hit = text.isin(SPREADSHEET_ERRORS) | text.str.fullmatch(_LIBREOFFICE_ERROR)
        if not hit.any():
            continue
        positions = frame.index.get_indexer(text.index[hit.to_numpy()])
        lines = table.lines[positions]
        kinds = ", ".join(f"{v!r} ({n:,})" for v, n in text[hit].value_counts().items())
        table.issues.append(Issue(
            "error", "spreadsheet-error",
            f"{len(lines):,} cell{'s' * (len(lines) > 1)} hold{'s' * (len(lines) == 1)} a "
            f"spreadsheet error: {kinds} on {_where(lines)}: fix the formula, or clear the "
            "cell for a missing code", column, tuple(int(n) for n in lines[:20]), len(lines)))
        frame.loc[text.index[hit.to_numpy()], column] = None


def _where(lines) -> str:
    shown = ", ".join(str(int(n)) for n in lines[:20])
    if len(lines) == 1:
        return f"line {shown}"
    more = f", ... ({len(lines):,} lines)" if len(lines) > 20 else ""
    return f"lines {shown}{more}"


def _finish(frame: pd.DataFrame, lines, label, file) -> Table:
    table = Table(frame, np.asarray(lines, dtype=np.int64), label, file)
    _spreadsheet_errors(table)
    return table


def file_sha256(path: str | Path) -> str:
    """SHA-256 hex digest of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
