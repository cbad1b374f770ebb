"""Validation of a wide case survey against its codebook, listing every problem at once.

A wide table has one row per individual: ID columns (named in the codebook's ``[ids]``)
and one column per condition and outcome. :func:`validate_frame` checks it and returns a
:class:`ValidationReport` holding every :class:`Problem` (errors and warnings), each with
the file, the row (the line number in the file) and the column. Cell-level checks (codes
outside a scale, non-whole numbers, missing IDs) run through a lazy pandera schema, so all
failures are collected; checks across rows (duplicates, nesting, constancy within groups)
are plain vectorised pandas.

Rules
-----
Errors (the data cannot be loaded until they are fixed):

- ``missing-id-column``: an ID column named in ``[ids]`` is not in the file;
- ``no-outcome``: no outcome column, or no observed outcome code at all;
- ``duplicate-column``: a column name appears twice;
- ``empty-file``: no data rows;
- ``ragged-row``, ``spreadsheet-error``, ``title-row``: the file's layout (:mod:`data.io`):
  a line with more or fewer values than the header, a cell holding ``#N/A`` or another
  spreadsheet error, a title above the column names;
- ``missing-id``: an empty ID cell;
- ``non-numeric``: a code that is not a number, nor a text code mapped in the codebook's
  ``codes``, nor a declared missing code (an empty cell is a missing code too);
- ``not-finite``, ``out-of-scale``, ``not-integer``: a code outside its scale
  (ordinal ``1..K``, binary ``0/1``, count ``0, 1, 2, ...``; integer scales take whole numbers);
- ``duplicate-id``: an individual ID on several rows;
- ``individual-in-two-groups``: an individual's rows disagree on its network (or
  organisation, or alliance);
- ``network-in-two-alliances``: a network's rows name more than one alliance;
- ``varies-in-group``: a network-, organisation- or alliance-level variable that takes
  different values inside one group.

Warnings (reported; the data still load):

- ``unknown-column``: columns the codebook does not know (ignored);
- ``id-spaces``: IDs with spaces around them (removed: ``' A01-N1'`` is ``A01-N1``);
- ``encoding``, ``header-spaces``: a CSV file read as Windows-1252 / latin-1, column names
  with spaces around them (:mod:`data.io`);
- ``empty-rows``: rows with no value at all (ignored);
- ``empty-group``: a group whose members have no observed individual-level code;
- ``unobserved-category``: an outcome category (or a whole outcome) never observed;
- ``single-group``: only one alliance (or network, ...): its variance cannot be estimated.

A condition declared in the codebook but absent from the file is not a problem: surveys
measure a subset, and the codebook is restricted to the columns present
(:attr:`ValidationReport.absent` lists them). Missing codes (empty cells and the codebook's
declared ``missing_codes``) are never errors; they are counted per variable at the
variable's own level (:attr:`ValidationReport.summary`).

A cell-level problem is reported once per column and rule, with its number of cells, the
values found and the first lines (:attr:`Problem.count`); so are the problems found unit by
unit (repeated IDs, nesting, group values that vary, empty groups: :func:`group_repeated`),
naming the first units. The report's totals count cells and units, not messages.
"""

from __future__ import annotations

import difflib
import logging
import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pandera.pandas as pa

from .cells import as_id, describe_scale, read_codes, show_value, spaced_ids
from .codebook import Codebook, Variable
from .errors import AllianceLearningError
from .io import Table

logger = logging.getLogger(__name__)

ERROR = "error"
WARNING = "warning"

#: Most lines named in one message; the rest are counted.
MAX_LINES_LISTED = 20
#: Most problems listed per column and rule for problems of groups (a repeated ID, a network
#: in two alliances); the rest are summarised in one more problem.
MAX_PROBLEMS_PER_RULE = 50
#: Most distinct values named in a cell-level problem, and most units in a grouped one.
MAX_VALUES_SHOWN = 5
#: Rules found per unit (an ID, a group), grouped into one problem per column by
#: :func:`group_repeated`, with the heading of the grouped message.
GROUPED_RULES = {
    "duplicate-id": "individual IDs are repeated",
    "individual-in-two-groups": "individuals are in more than one group",
    "network-in-two-alliances": "networks are in more than one alliance",
    "varies-in-group": "groups in which a group-level value varies",
    "empty-group": "groups have no observed individual-level code",
    "duplicate-code": "codes are given more than once",
    "missing-group": "units have no group on any of their rows",
    "group-without-members": "groups have no member in the sheet",
}

# Cell-level rules checked by pandera, in the order one cell's failures are reported
# (a cell gets only its first failure: 9.5 on a 1..5 scale is "outside", not also "not whole").
_CELL_RULES = ("not-finite", "out-of-scale", "not-integer")


@dataclass(frozen=True)
class Problem:
    """One problem in a data file.

    Attributes
    ----------
    severity : {"error", "warning"}
    file : str
        The file (or a description of in-memory data).
    row : int or None
        Line number in the file (header = line 1, first data row = line 2) for CSV and
        Excel; the 1-based row number for Parquet and in-memory tables (see
        ``row_label``). For a problem spanning several rows, the first offending one;
        ``None`` for problems of the whole file.
    column : str or None
        The column concerned (several names joined by ", " for a list).
    message : str
        What is wrong, naming values and, for group problems, every offending line.
    rule : str
        Short name of the rule (see the module docstring).
    rows : tuple of int
        Every offending line listed in the message (at most ``MAX_LINES_LISTED``).
    row_label : {"line", "row"}
        Whether ``row`` is a line number in the file or a 1-based row number.
    count : int
        How many cells (or rows, or units) the problem stands for.
    """

    severity: str
    file: str
    row: int | None
    column: str | None
    message: str
    rule: str = ""
    rows: tuple[int, ...] = ()
    row_label: str = "line"
    count: int = 1

    @property
    def is_error(self) -> bool:
        """Whether this problem stops the data from loading."""
        return self.severity == ERROR

    @property
    def location(self) -> str:
        """``file:line`` (or ``file:row N`` for row numbers; ``file`` alone for the whole file)."""
        if self.row is None:
            return self.file
        if self.row_label == "line":
            return f"{self.file}:{self.row}"
        return f"{self.file}:row {self.row}"

    def __str__(self) -> str:
        column = f" [{self.column}]" if self.column else ""
        return f"{self.location}:{column} {self.severity}: {self.message}"


@dataclass
class ValidationReport:
    """Every problem found in one data file, and a summary of what it holds.

    Attributes
    ----------
    file : str
    problems : list of Problem
        Errors and warnings, in the order of :meth:`sorted_problems` when printed.
    codebook : Codebook
        The codebook restricted to the columns present in the file.
    absent : list of str
        Codebook conditions that are not columns of the file (not a problem).
    counts : dict of str to int
        Number of distinct units at each level present.
    summary : pandas.DataFrame
        One row per condition and outcome present: ``kind``, ``level``, ``scale``,
        ``units`` (units at the variable's level) and ``missing`` (units with no code).
    row_label : {"line", "row"}
    """

    file: str
    problems: list[Problem] = field(default_factory=list)
    codebook: Codebook | None = None
    absent: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    summary: pd.DataFrame = field(default_factory=pd.DataFrame)
    row_label: str = "line"

    @property
    def errors(self) -> list[Problem]:
        """Problems that stop the data from loading."""
        return [p for p in self.sorted_problems() if p.is_error]

    @property
    def warnings(self) -> list[Problem]:
        """Problems reported but not blocking."""
        return [p for p in self.sorted_problems() if not p.is_error]

    @property
    def ok(self) -> bool:
        """True when there is no error (warnings allowed)."""
        return not any(p.is_error for p in self.problems)

    def sorted_problems(self) -> list[Problem]:
        """Errors first, then warnings; whole-file problems first, then by row and column."""
        return sorted(self.problems, key=lambda p: (not p.is_error, p.row is not None,
                                                    p.row or 0, p.column or ""))

    def by_rule(self, rule: str) -> list[Problem]:
        """The problems raised by one rule."""
        return [p for p in self.problems if p.rule == rule]

    def raise_for_errors(self) -> None:
        """Raise :class:`DataValidationError` when there is at least one error."""
        if not self.ok:
            raise DataValidationError(self)

    def headline(self) -> str:
        """One line: how many errors and warnings, counted in cells (or rows), not messages."""
        parts = []
        for word, problems in (("error", self.errors), ("warning", self.warnings)):
            n = sum(p.count for p in problems)
            listed = f" ({len(problems):,} listed)" if n != len(problems) else ""
            parts.append(f"{n:,} {word}{'s' * (n != 1)}{listed}")
        return f"{self.file}: {', '.join(parts)}"

    def __str__(self) -> str:
        return "\n".join([self.headline(), *(f"  {p}" for p in self.sorted_problems())])


class DataValidationError(AllianceLearningError, ValueError):
    """Raised when a data file has errors; ``report`` holds every problem."""

    def __init__(self, report: ValidationReport):
        self.report = report
        super().__init__(str(report))


# -- the checks -----------------------------------------------------------------------------
def validate_frame(frame: pd.DataFrame, codebook: Codebook, *, file: str = "<data>",
                   lines=None, row_label: str = "row") -> ValidationReport:
    """Validate a wide table against a codebook.

    Parameters
    ----------
    frame : pandas.DataFrame
        One row per individual, columns named as in the codebook. Codes may be strings
        (as read from CSV or Excel) or numbers.
    codebook : Codebook
    file : str
        Name used in every problem.
    lines : array-like of int, optional
        Line number of each row in the file. Default: 1-based row numbers.
    row_label : {"line", "row"}
        How to call ``lines`` in messages ("line" when they are line numbers in a file).

    Returns
    -------
    ValidationReport
        Never raises on problems in the data; see :meth:`ValidationReport.raise_for_errors`.
    """
    report, _ = check_wide(frame, codebook, file=file, lines=lines, row_label=row_label)
    return report


def check_wide(frame: pd.DataFrame, codebook: Codebook, *, file: str = "<data>", lines=None,
               row_label: str = "row", source: Table | None = None,
               ) -> tuple[ValidationReport, pd.DataFrame | None]:
    """Validate like :func:`validate_frame`, also returning the cleaned table.

    The cleaned table (``None`` when the file has errors) has the empty rows dropped,
    only the codebook's columns, IDs as strings and codes as floats (missing = NaN).
    ``source``, the file as :func:`data.io.read_rows` read it, adds the problems of its
    layout, its decimal mark and hints on where a missing column is.
    """
    checker = _WideChecker(frame, codebook, file, lines, row_label, source)
    return checker.run()


class ProblemCollector:
    """The state every validation run shares: the frame, its file lines and the problems.

    Subclassed by the wide checker here and the coding-sheet checker in :mod:`data.coded`.
    """

    def __init__(self, frame, codebook, file, lines, row_label, source=None):
        frame = frame.reset_index(drop=True)
        frame.columns = [str(c) for c in frame.columns]
        self.raw = frame
        self.codebook = codebook
        self.file = file
        self.row_label = row_label
        if lines is None:
            lines = np.arange(1, len(frame) + 1)
        self.lines = np.asarray(lines, dtype=np.int64)
        if len(self.lines) != len(frame):
            raise ValueError(f"{len(self.lines)} line numbers for {len(frame)} rows")
        self.problems: list[Problem] = []
        self.source = source
        self.decimal = source.decimal if source is not None else "."
        for issue in source.issues if source is not None else ():
            self.add(issue.severity, issue.rule, issue.message, issue.column, issue.rows,
                     issue.count)

    def add(self, severity, rule, message, column=None, rows=(), count=1):
        """Record one problem of this file (its rows listed up to ``MAX_LINES_LISTED``)."""
        rows = tuple(int(r) for r in np.asarray(rows)[:MAX_LINES_LISTED])
        self.problems.append(Problem(severity, self.file, rows[0] if rows else None, column,
                                     message, rule, rows, self.row_label, int(count)))

    def warn_spaced(self, column: str, noun: str) -> None:
        """Warn once for the cells of ``column`` with spaces around them (they are stripped)."""
        spaced = spaced_ids(self.raw[column])
        if not spaced.any():
            return
        lines = self.lines[spaced]
        first = self.raw[column].iloc[np.flatnonzero(spaced)[0]]
        many = len(lines) > 1
        self.add(WARNING, "id-spaces",
                 f"{len(lines):,} {noun}{'s' * many} with spaces around "
                 f"{'them' if many else 'it'} on {self.where(lines)}: the spaces are removed "
                 f"({first!r} is read as {first.strip()!r})", column, rows=lines, count=len(lines))

    def where(self, lines) -> str:
        """``line 5`` / ``lines 5, 6, 9`` / ``lines 5, 6, ... (1,234 lines, first 20 shown)``."""
        lines = np.asarray(lines)
        word = self.row_label
        shown = ", ".join(str(int(n)) for n in lines[:MAX_LINES_LISTED])
        if len(lines) == 1:
            return f"{word} {shown}"
        if len(lines) <= MAX_LINES_LISTED:
            return f"{word}s {shown}"
        return f"{word}s {shown}, ... ({len(lines):,} {word}s, first {MAX_LINES_LISTED} shown)"


class _WideChecker(ProblemCollector):
    """One validation run; the state shared by the checks lives here."""

    # -- helpers ------------------------------------------------------------------------
    def by_group(self, values, level):
        """``values`` grouped by ``level``'s ID, leaving out rows whose ID is missing."""
        codes, _ = self.group_codes[level]
        known = codes >= 0
        return values[known].groupby(codes[known], sort=False)

    # -- run ------------------------------------------------------------------------------
    def run(self):
        cb = self.codebook
        self.check_columns()
        present = cb.restrict(self.raw.columns)
        self.present = present
        self.absent = [n for n in cb.conditions if n not in self.raw.columns]
        if self.absent:
            logger.info("%s: %d codebook conditions not in the file: %s", self.file,
                        len(self.absent), ", ".join(self.absent))
        self.id_levels = [lvl for lvl in cb.levels if cb.ids[lvl] in self.raw.columns]
        self.variables = [*present.conditions, *present.outcomes]

        report = ValidationReport(self.file, self.problems, present, self.absent,
                                  row_label=self.row_label)
        self.drop_empty_rows()
        if len(self.raw) == 0:
            self.add(ERROR, "empty-file", "the file has no data rows")
            return report, None

        self.ids = pd.DataFrame({lvl: as_id(self.raw[cb.ids[lvl]]) for lvl in self.id_levels})
        self.check_id_spaces()
        self.codes = self.to_numbers()
        self.check_cells()
        self.check_duplicate_individuals()
        self.check_network_in_one_alliance()
        self.group_codes = {lvl: pd.factorize(self.ids[lvl], use_na_sentinel=True)
                            for lvl in self.id_levels if lvl != "individual"}
        self.check_constant_in_groups()
        self.check_empty_groups()
        self.check_outcomes()
        self.check_single_groups()
        self.problems[:] = group_repeated(self.problems)
        report.counts = {lvl: int(self.ids[lvl].nunique()) for lvl in self.id_levels}
        report.summary = self.summarise()
        if not report.ok:
            return report, None
        clean = pd.concat([self.ids.rename(columns=cb.ids), self.codes], axis=1)
        return report, clean

    # -- whole-file checks ----------------------------------------------------------------
    def check_columns(self):
        cb = self.codebook
        repeated = self.raw.columns.duplicated()
        for name in dict.fromkeys(self.raw.columns[repeated]):
            self.add(ERROR, "duplicate-column", f"column {name!r} appears more than once", name)
        self.raw = self.raw.loc[:, ~repeated]  # the first copy is checked
        columns = list(self.raw.columns)
        known = set(cb.ids.values()) | set(cb.conditions) | set(cb.outcomes)
        hint = self.source.where_columns([*cb.ids.values(), *cb.outcomes]) if self.source else ""
        for level, column in cb.ids.items():
            if column not in columns:
                self.add(ERROR, "missing-id-column",
                         f"the {level} ID column {column!r} (named in [ids] of {cb.source}) "
                         f"is not in the file{hint}", column)
        if not any(name in columns for name in cb.outcomes):
            self.add(ERROR, "no-outcome",
                     f"no outcome column: the codebook declares {_names(cb.outcomes)}{hint}")
        unknown = []
        for name in columns:
            base = re.fullmatch(r"(.+)\.(\d+)", name)
            if name in known:
                continue
            if base and base.group(1) in columns:
                # pandas renames a repeated header "x" to "x.1"
                self.add(ERROR, "duplicate-column",
                         f"column {base.group(1)!r} appears more than once", base.group(1))
            else:
                unknown.append(name)
        if unknown:
            hints = []
            for name in unknown:
                close = difflib.get_close_matches(name.strip().lower(), known, n=1, cutoff=0.8)
                if close:
                    hints.append(f"{name!r} may be {close[0]!r}")
            hint = f" ({'; '.join(hints)})" if hints else ""
            self.add(WARNING, "unknown-column",
                     f"{len(unknown)} column{'s' * (len(unknown) > 1)} not in the codebook "
                     f"{'are' if len(unknown) > 1 else 'is'} ignored: {_names(unknown)}{hint}",
                     ", ".join(unknown))

    def drop_empty_rows(self):
        empty = self.raw.isna().all(axis=1).to_numpy()
        if empty.any():
            lines = self.lines[empty]
            self.add(WARNING, "empty-rows",
                     f"{len(lines):,} empty row{'s' * (len(lines) > 1)} ignored ({self.where(lines)})",
                     rows=lines)
            self.raw = self.raw.loc[~empty].reset_index(drop=True)
            self.lines = self.lines[~empty]

    # -- cell checks ----------------------------------------------------------------------
    def check_id_spaces(self):
        """IDs with spaces around them: removed (by ``as_id``), and said where."""
        for level in self.id_levels:
            self.warn_spaced(self.codebook.ids[level], f"{level} ID")

    def to_numbers(self) -> pd.DataFrame:
        """Every condition and outcome as float; non-numeric codes reported and set to NaN.

        Text codes are mapped and declared missing codes set to NaN as the codebook says
        (:func:`data.cells.read_codes`); ``self.declared`` counts the latter per variable.
        """
        # one float block filled column by column: no copy when the frame is built
        block = np.empty((len(self.variables), len(self.raw)))
        self.declared = {}
        for j, name in enumerate(self.variables):
            raw = self.raw[name]
            var = self.present.variable(name)
            number, declared = read_codes(raw, var, self.decimal)
            self.declared[name] = declared
            bad = raw.notna().to_numpy() & np.isnan(number) & ~declared
            if bad.any():
                hint = ("codes are numbers" + (", or a text in the codebook's codes"
                                               if var.codes else "")
                        + "; leave the cell empty for a missing code, or declare it in "
                        "missing_codes")
                self.cell_problems("non-numeric", name, np.flatnonzero(bad),
                                   "non-numeric code", hint)
            block[j] = number
        return pd.DataFrame(block.T, index=self.raw.index, columns=self.variables)

    def check_cells(self):
        """Missing IDs and codes outside their scale, through one lazy pandera schema."""
        columns = {lvl: pa.Column(nullable=False, name=lvl) for lvl in self.id_levels}
        schema_ids = pa.DataFrameSchema(columns)
        schema_codes = pa.DataFrameSchema(
            {name: pa.Column(float, nullable=True, checks=_scale_checks(self.present.variable(name)))
             for name in self.variables})
        failures = []
        for schema, data in ((schema_ids, self.ids), (schema_codes, self.codes)):
            try:
                schema.validate(data, lazy=True, inplace=True)
            except pa.errors.SchemaErrors as err:
                failures.append(err.failure_cases)
        if not failures:
            return
        cases = pd.concat(failures, ignore_index=True)
        cases = cases[cases["index"].notna()]
        cases = cases.assign(
            rule=cases["check"].map(lambda c: "missing-id" if c == "not_nullable" else c),
            order=cases["check"].map(lambda c: _CELL_RULES.index(c) if c in _CELL_RULES else -1),
            position=cases["index"].astype(np.int64))
        cases = cases.sort_values(["order", "position"], kind="stable")
        cases = cases.drop_duplicates(["column", "position"], keep="first")
        for (column, rule), group in cases.groupby(["column", "rule"], sort=False):
            positions = np.sort(group["position"].to_numpy())
            if rule == "missing-id":
                self.cell_problems(rule, self.codebook.ids[column], positions,
                                   f"empty {column} ID", values=False)
            else:
                scale = self.present.variable(column).scale
                self.cell_problems(rule, column, positions, _CELL_MESSAGES[rule],
                                   describe_scale(scale))

    def cell_problems(self, rule, column, positions, what, hint="", values=True):
        """One error for every offending cell of a column and rule: count, values, lines."""
        self.add(ERROR, rule, cells_message(self.raw[column], positions, self.lines[positions],
                                            what, hint, self.row_label, values),
                 column, rows=self.lines[positions], count=len(positions))

    # -- checks across rows ---------------------------------------------------------------
    def check_duplicate_individuals(self):
        if "individual" not in self.id_levels:
            return
        ids = self.ids["individual"]
        dup = (ids.duplicated(keep=False) & ids.notna()).to_numpy()
        if not dup.any():
            return
        id_column = self.codebook.ids["individual"]
        parents = [lvl for lvl in self.id_levels if lvl != "individual"]
        sub = self.ids.loc[dup].assign(_line=self.lines[dup])
        disagree = sub.groupby("individual", sort=False)[parents].nunique() if parents else None
        for n, (person, rows) in enumerate(sub.groupby("individual", sort=False)):
            if n == MAX_PROBLEMS_PER_RULE:
                rest = sub["individual"].nunique() - n
                self.add(ERROR, "duplicate-id", f"{rest:,} more individual IDs are repeated",
                         id_column, count=rest)
                break
            lines = rows["_line"].to_numpy()
            split = [lvl for lvl in parents if disagree.at[person, lvl] > 1] if parents else []
            if split:
                level = split[0]
                groups = "; ".join(f"{show_value(g)} ({self.where(r['_line'])})"
                                   for g, r in rows.groupby(level, sort=False))
                self.add(ERROR, "individual-in-two-groups",
                         f"individual {show_value(person)} is in {rows[level].nunique()} {level}s: "
                         f"{groups}", self.codebook.ids[level], rows=lines[1:])
            else:
                self.add(ERROR, "duplicate-id",
                         f"individual ID {show_value(person)} is repeated on {self.where(lines)}",
                         id_column, rows=lines[1:])

    def check_network_in_one_alliance(self):
        if not {"network", "alliance"} <= set(self.id_levels):
            return
        pairs = self.ids[["network", "alliance"]].assign(_line=self.lines).dropna()
        n_alliances = pairs.groupby("network", sort=False)["alliance"].nunique()
        split = n_alliances.index[n_alliances > 1]
        column = self.codebook.ids["alliance"]
        for n, network in enumerate(split):
            if n == MAX_PROBLEMS_PER_RULE:
                self.add(ERROR, "network-in-two-alliances",
                         f"{len(split) - n:,} more networks are in several alliances", column,
                         count=len(split) - n)
                break
            rows = pairs[pairs["network"] == network]
            usual = rows["alliance"].value_counts().index[0]
            parts = "; ".join(f"{show_value(a)} ({self.where(r['_line'])})"
                              for a, r in rows.groupby("alliance", sort=False))
            self.add(ERROR, "network-in-two-alliances",
                     f"network {show_value(network)} is in {rows['alliance'].nunique()} alliances: "
                     f"{parts} (network IDs must be unique across alliances)",
                     column, rows=rows.loc[rows["alliance"] != usual, "_line"].to_numpy())

    def check_constant_in_groups(self):
        """A group-level variable must take one value inside each group (missing allowed)."""
        for level, (codes, uniques) in self.group_codes.items():
            names = [n for n in self.variables if self.present.variable(n).level == level]
            if not names:
                continue
            grouped = self.by_group(self.codes[names], level)
            varies = grouped.max() > grouped.min()
            for name in names:
                bad = varies.index[varies[name].to_numpy()].to_numpy()
                if not len(bad):
                    continue
                self.report_varying(level, name, codes, uniques, bad)

    def report_varying(self, level, name, codes, uniques, bad):
        in_bad = np.isin(codes, bad[:MAX_PROBLEMS_PER_RULE])
        rows = pd.DataFrame({"group": codes[in_bad], "value": self.codes[name].to_numpy()[in_bad],
                             "_line": self.lines[in_bad]}).dropna()
        kind = "outcome" if name in self.present.outcomes else "condition"
        for group, members in rows.groupby("group", sort=False):
            usual = members["value"].value_counts().index[0]
            parts = "; ".join(f"{show_value(v)} ({self.where(r['_line'])})"
                              for v, r in members.groupby("value", sort=True))
            self.add(ERROR, "varies-in-group",
                     f"{level}-level {kind} {name!r} varies inside {level} "
                     f"{show_value(uniques[group])}: {parts}", name,
                     rows=members.loc[members["value"] != usual, "_line"].to_numpy())
        if len(bad) > MAX_PROBLEMS_PER_RULE:
            self.add(ERROR, "varies-in-group",
                     f"{len(bad) - MAX_PROBLEMS_PER_RULE:,} more {level}s in which {name!r} varies",
                     name, count=len(bad) - MAX_PROBLEMS_PER_RULE)

    def check_empty_groups(self):
        names = [n for n in self.variables if self.present.variable(n).level == "individual"]
        if not names:
            return
        observed = self.observed()[names].any(axis=1).to_numpy()
        for level, (codes, uniques) in self.group_codes.items():
            has_code = self.by_group(pd.Series(observed), level).any()
            empty = has_code.index[~has_code.to_numpy()].to_numpy()
            for n, group in enumerate(empty):
                if n == MAX_PROBLEMS_PER_RULE:
                    self.add(WARNING, "empty-group",
                             f"{len(empty) - n:,} more {level}s have no observed individual-level code",
                             self.codebook.ids[level], count=len(empty) - n)
                    break
                lines = self.lines[codes == group]
                self.add(WARNING, "empty-group",
                         f"{level} {show_value(uniques[group])} has no observed individual-level code "
                         f"({self.where(lines)}): only its group-level codes inform the model",
                         self.codebook.ids[level], rows=lines)

    def check_outcomes(self):
        outcomes = list(self.present.outcomes)
        if outcomes and all(self.codes[o].isna().all() for o in outcomes):
            self.add(ERROR, "no-outcome", f"no observed outcome code in {_names(outcomes)}",
                     ", ".join(outcomes))
            return
        for name in outcomes:
            scale = self.present.outcomes[name].scale
            values = self.codes[name]
            if values.isna().all():
                self.add(WARNING, "unobserved-category", f"outcome {name!r} has no observed code", name)
                continue
            if scale.kind not in ("ordinal", "binary"):
                continue
            low, high = (int(b) for b in scale.bounds)
            seen = set(values.dropna().unique().tolist())
            never = [k for k in range(low, high + 1) if k not in seen]
            if never:
                self.add(WARNING, "unobserved-category",
                         f"outcome {name!r}: categor{'ies' if len(never) > 1 else 'y'} "
                         f"{', '.join(map(str, never))} never observed ({describe_scale(scale)})", name)

    def check_single_groups(self):
        for level in self.group_codes:
            ids = self.ids[level].dropna().unique()
            if len(ids) == 1:
                self.add(WARNING, "single-group",
                         f"only one {level} ({show_value(ids[0])}): the variance between {level}s "
                         "cannot be estimated", self.codebook.ids[level])

    # -- summary --------------------------------------------------------------------------
    def observed(self) -> pd.DataFrame:
        """Cells holding a code: neither empty nor a declared missing code."""
        declared = pd.DataFrame(self.declared, index=self.raw.index)
        return self.raw[self.variables].notna() & ~declared

    def summarise(self) -> pd.DataFrame:
        """Units and missing codes per variable, counted at the variable's own level.

        ``declared`` counts the cells holding one of the codebook's missing codes (part of
        ``missing``, which counts units).
        """
        observed = self.observed()
        units, missing = {}, {}
        for level in {self.present.variable(n).level for n in self.variables}:
            names = [n for n in self.variables if self.present.variable(n).level == level]
            if level in self.group_codes:  # a group is missing a code if none of its rows has one
                has_code = self.by_group(observed[names], level).any()
            else:
                has_code = observed[names]
            units.update(dict.fromkeys(names, len(has_code)))
            missing.update((~has_code).sum().astype(int).to_dict())
        rows = []
        for name in self.variables:
            var: Variable = self.present.variable(name)
            rows.append({"variable": name,
                         "kind": "outcome" if name in self.present.outcomes else "condition",
                         "level": var.level, "scale": var.scale.name,
                         "units": units[name], "missing": int(missing[name]),
                         "declared": int(self.declared[name].sum())})
        return pd.DataFrame(rows, columns=["variable", "kind", "level", "scale", "units", "missing",
                                           "declared"])


# -- small pieces -----------------------------------------------------------------------------
_CELL_MESSAGES = {
    "not-finite": "code that is not a finite number:",
    "out-of-scale": "out-of-scale code",
    "not-integer": "code that is not a whole number:",
}


def group_repeated(problems: list[Problem]) -> list[Problem]:
    """One problem per rule and column for the rules found unit by unit (GROUPED_RULES).

    Several problems of one such rule and column become one: its count is the number of
    units (the checks' own "N more ..." summaries included), its message names the first
    few units, and its rows are the first lines of all of them.
    """
    keys = [(p.rule, p.column) if p.rule in GROUPED_RULES else None for p in problems]
    groups: dict[tuple, list[Problem]] = {}
    for key, problem in zip(keys, problems):
        if key is not None:
            groups.setdefault(key, []).append(problem)
    out, done = [], set()
    for key, problem in zip(keys, problems):
        if key is None or len(groups[key]) == 1:
            out.append(problem)
        elif key not in done:
            done.add(key)
            members = groups[key]
            total = sum(p.count for p in members)
            listed = [p for p in members if p.rows][:MAX_VALUES_SHOWN]
            rows = sorted({r for p in members for r in p.rows})[:MAX_LINES_LISTED]
            more = f"; ... ({total - len(listed):,} more)" if total > len(listed) else ""
            message = (f"{total:,} {GROUPED_RULES[problem.rule]}: "
                       + "; ".join(p.message for p in listed) + more)
            out.append(Problem(problem.severity, problem.file, rows[0] if rows else None,
                               problem.column, message, problem.rule, tuple(rows),
                               problem.row_label, total))
    return out


def cells_message(raw: pd.Series, positions, lines, what: str, hint: str = "",
                  row_label: str = "line", values: bool = True) -> str:
    """``3 cells: non-numeric code 'M' (2), 'F' (1) on lines 2, 5, 9 (hint)``.

    One message for every cell of a column that breaks one rule: how many, which values
    (the most frequent first), where (the first lines) and what to do.
    """
    n = len(positions)
    shown = ""
    if values:
        counts = raw.iloc[np.asarray(positions)].map(show_value).value_counts(sort=True)
        if n == 1:
            shown = f" {counts.index[0]}"
        else:
            shown = " " + ", ".join(f"{v} ({c:,})" for v, c in
                                    counts.iloc[:MAX_VALUES_SHOWN].items())
            if len(counts) > MAX_VALUES_SHOWN:
                shown += f", ... ({len(counts):,} different values)"
    lines = np.asarray(lines)
    listed = ", ".join(str(int(x)) for x in lines[:MAX_LINES_LISTED])
    if n == 1:
        where = f"{row_label} {listed}"
    else:
        more = f", ... (first {MAX_LINES_LISTED} shown)" if n > MAX_LINES_LISTED else ""
        where = f"{row_label}s {listed}{more}"
    head = f"{what}{shown}" if n == 1 else f"{n:,} cells: {what}{shown}"
    return f"{head} on {where}" + (f" ({hint})" if hint else "")


def _scale_checks(var: Variable) -> list[pa.Check]:
    """Pandera checks for one variable's codes (missing codes pass: they are allowed)."""
    low, high = var.scale.bounds
    checks = [pa.Check(lambda s: np.isfinite(s), error="not-finite")]
    if np.isfinite(low) or np.isfinite(high):
        checks.append(pa.Check(lambda s, lo=low, hi=high: (s >= lo) & (s <= hi), error="out-of-scale"))
    if var.scale.integer:
        checks.append(pa.Check(lambda s: s % 1 == 0, error="not-integer"))
    return checks


def _names(names) -> str:
    return ", ".join(repr(n) for n in names)
