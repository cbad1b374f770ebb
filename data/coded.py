"""The coded (long) form of a case survey: one row per code that a rater gave.

In a case survey, two or more raters (coders) read each case and code its conditions. Their
coding sheet has one row per code, which this module validates (:func:`validate_coded`),
measures for agreement (:func:`reliability`, Krippendorff's alpha per condition;
:func:`reliability_table` for codes already read) and collapses over raters into the wide
form (:func:`collapse_raters`); :func:`load_coded`
does all of it for a file and keeps the raters' codes for models that use them directly
(:func:`check_coded_file` does the same without raising, for ``validate``-style reports).

The coding sheet
----------------
Columns: ``condition``, ``rater``, ``value`` (names set in the codebook's ``[coded]``
table) and the ID columns of the codebook's ``[ids]``, as in the wide form::

    respondent  network  organisation  alliance  condition            rater  value
    P01         N1       O1            KITe      personal_contact     A      4
    P01         N1       O1            KITe      personal_contact     B      5
    P01         N1       O1            KITe      individual_learning  A      3
                N1                     KITe      group_size           A      12
                N1                     KITe      group_size           B      12
                         O1                      absorptive_capacity  A      3
                                       KITe      prior_cooperation    A      2

- **The unit** a code is about is named by the ID column of its condition's level: the
  respondent for an individual-level condition, the network for a network-level one, and
  so on. Outcomes coded by raters go in the ``condition`` column too.
- **The nesting** is carried by the other ID columns, as far as the unit belongs to one
  group: a code about a person also names the person's network, organisation and alliance;
  a code about a network names its alliance. An organisation may belong to several
  alliances, so a code about an organisation needs only the organisation. A group ID need
  not be repeated on every row of the unit, but must be given on at least one and must
  never be contradicted. IDs of levels *below* a condition's level are not used (a code
  about a network is about the whole network, whoever's row it is typed on).
- Optionally, a ``unit`` column (name set in ``[coded]``) may name the unit instead of its
  level's own ID column; where both are filled they must agree.
- An empty ``value`` is a missing code: kept, counted, never an error. A row with an
  empty value is also how a unit without any code is declared.

Individuals are the respondent IDs that appear on individual-level rows; a network,
organisation or alliance that is coded must have at least one of them as a member, or its
codes could not be placed in the wide form.

Rules
-----
Errors (the sheet cannot be used until they are fixed); rule names match
:mod:`data.validate` where the rule is the same:

- ``missing-id-column``, ``missing-coded-column``: an ``[ids]`` column, or the condition,
  rater or value column, is not in the file;
- ``empty-file``: no data rows; ``no-outcome``: no outcome is coded;
- ``missing-condition``, ``missing-rater``, ``missing-unit``: an empty cell where the row
  needs one (the unit is the ID at the condition's level, or the ``unit`` column);
- ``unit-mismatch``: the ``unit`` column and the level's ID column disagree;
- ``non-numeric``, ``not-finite``, ``out-of-scale``, ``not-integer``: a code that is not a
  number, or is outside its condition's scale;
- ``duplicate-code``: one rater coded the same condition of the same unit on several rows;
- ``individual-in-two-groups``, ``network-in-two-alliances``: contradicting nesting;
- ``missing-group``: a unit whose group (an individual's network, organisation or
  alliance; a network's alliance) is given on none of its rows;
- ``group-without-members``: a coded network, organisation or alliance with no
  individual in the sheet.

Warnings (reported; the sheet is still used):

- ``unknown-condition``: condition names the codebook does not know (rows ignored);
- ``unknown-column``: columns that are neither IDs nor coded columns (ignored);
- ``empty-rows``: rows with no value at all (ignored);
- ``no-reliability``: a condition with no unit coded by two raters (one rater only, or
  raters who coded different units): its reliability cannot be estimated;
- ``low-reliability`` (added by :func:`check_coded_file` and :func:`load_coded`):
  Krippendorff's alpha below 0.667.

Collapsing raters
-----------------
:func:`collapse_raters` turns the codes of each unit and condition into one value. The
result must be a valid code of the condition's scale (the wide validator checks it), so on
integer scales (ordinal, binary, count) a value between two codes is rounded:

- ``median``: the median of the raters' codes. A median halfway between two codes (two
  raters coding 3 and 4) goes to the code nearer the scale's midpoint ((1 + K) / 2 for
  ordinal-K, 0.5 for binary): 3.5 on a 1..5 scale becomes 3, 1.5 becomes 2. This is
  symmetric under reversing the scale and errs toward the neutral category, so a split
  between raters never produces the more extreme code. When the half lies on the midpoint
  itself (2.5 on a 1..4 scale, 0.5 on a binary one) or the scale has no midpoint (count),
  the lower code is taken.
- ``mean``: the mean of the codes, rounded to the nearest code on integer scales (halves
  as for the median); exact on continuous scales.
- ``mode``: the most frequent code; tied modes go to the one nearest the scale's midpoint,
  the lower one when two are equally near or the scale has no midpoint.

A unit and condition with no code (only empty values, or no row at all) stays missing
(NaN) in the wide form and is counted; it is never dropped.

Reliability
-----------
Krippendorff's alpha (Krippendorff 2004, ch. 11; Hayes & Krippendorff 2007) with the
level of measurement taken from the scale: **ordinal** for ordinal / Likert scales,
**nominal** for binary, **ratio** for counts (a true zero, differences relative to size)
and **interval** for continuous scales. Alpha below 0.667 is flagged: Krippendorff (2004,
p. 241) advises relying on variables with alpha >= 0.800 and drawing only tentative
conclusions for 0.667 <= alpha < 0.800.

References
----------
Krippendorff, K. (2004). *Content Analysis: An Introduction to Its Methodology*, 2nd ed.
Thousand Oaks, CA: Sage.

Krippendorff, K. (2011). Computing Krippendorff's Alpha-Reliability. Annenberg School for
Communication, University of Pennsylvania. https://repository.upenn.edu/asc_papers/43

Hayes, A. F. & Krippendorff, K. (2007). Answering the call for a standard reliability
measure for coding data. *Communication Methods and Measures* 1(1), 77-89.
doi:10.1080/19312450709336664
"""

from __future__ import annotations

import difflib
import logging
from dataclasses import dataclass, replace
from pathlib import Path

import krippendorff
import numpy as np
import pandas as pd

from .cells import as_id, describe_scale, read_codes, show_value, to_float
from .codebook import Codebook, Scale, load_codebook
from .io import Table, file_sha256, read_rows
from .survey import CaseSurvey
from .validate import (
    _CELL_MESSAGES,
    ERROR,
    MAX_PROBLEMS_PER_RULE,
    WARNING,
    DataValidationError,
    Problem,
    ProblemCollector,
    ValidationReport,
    cells_message,
    check_wide,
    group_repeated,
)

logger = logging.getLogger(__name__)

#: Krippendorff's (2004) smallest alpha for tentative conclusions.
LOW_ALPHA = 0.667
#: How raters can be collapsed into one value per unit and condition.
COLLAPSE_METHODS = ("median", "mean", "mode")
#: Level of measurement (Krippendorff's metric) of each scale kind.
METRIC = {"ordinal": "ordinal", "binary": "nominal", "count": "ratio", "continuous": "interval"}
#: Columns of the tidy code table (:attr:`CodedSurvey.codes`).
CODE_COLUMNS = ("line", "condition", "level", "unit", "rater", "value")
#: Errors that make the codes themselves unusable (and so block :func:`reliability`); the
#: other errors concern the nesting and outcomes, which only the wide form needs.
CODE_RULES = frozenset({
    "missing-coded-column", "empty-file", "missing-condition", "missing-rater", "missing-unit",
    "unit-mismatch", "non-numeric", "not-finite", "out-of-scale", "not-integer", "duplicate-code",
})


# -- validation ------------------------------------------------------------------------------
def validate_coded(frame: pd.DataFrame, codebook: Codebook, *, file: str = "<data>",
                   lines=None, row_label: str = "row", source: Table | None = None,
                   ) -> ValidationReport:
    """Validate a coding sheet (the coded long form) against a codebook.

    Parameters
    ----------
    frame : pandas.DataFrame
        The sheet as read (see the module docstring for its columns); values may be
        strings (CSV, Excel) or numbers.
    codebook : Codebook
    file : str
        Name used in every problem.
    lines : array-like of int, optional
        Line number of each row in the file. Default: 1-based row numbers.
    row_label : {"line", "row"}
        How to call ``lines`` in messages.
    source : data.io.Table, optional
        The file as read: adds the problems of its layout and its decimal mark.

    Returns
    -------
    ValidationReport
        Every problem (the rules are listed in the module docstring) and the number of
        units at each level. Never raises on problems in the data.
    """
    report, _ = _CodedChecker(frame, codebook, file, lines, row_label, source).run()
    return report


@dataclass(frozen=True)
class _Parsed:
    """A validated sheet: one row per code of a known condition, and the nesting."""

    codes: pd.DataFrame       # CODE_COLUMNS
    members: pd.DataFrame     # indexed by individual ID; one column per group level
    report: ValidationReport


class _CodedChecker(ProblemCollector):
    """One validation run of a coding sheet; the shared state of the checks lives here."""

    def __init__(self, frame, codebook, file, lines, row_label, source=None):
        super().__init__(frame, codebook, file, lines, row_label, source)
        self.cols = codebook.coded

    # -- helpers ------------------------------------------------------------------------
    def each_row(self, rule, mask, column, message):
        """One error for all offending rows: the first one's ``message(position)``, the count
        and the lines of all.
        """
        positions = np.flatnonzero(mask)
        if not len(positions):
            return
        lines = self.lines[positions]
        text = message(positions[0])
        if len(positions) > 1:
            text = f"{text}; {len(positions):,} rows like this on {self.where(lines)}"
        self.add(ERROR, rule, text, column, rows=lines, count=len(positions))

    def each_code(self, rule, mask, what):
        """One error per condition for the codes breaking ``rule``: count, values, lines."""
        positions = np.flatnonzero(mask)
        raw = self.raw[self.cols["value"]]
        for name, where in pd.Series(positions).groupby(self.condition.to_numpy()[positions],
                                                          sort=False):
            at = where.to_numpy()
            var = self.codebook.variable(name)
            hint = f"{name!r}: {describe_scale(var.scale)}"
            if rule == "non-numeric":
                hint = (f"{name!r}: codes are numbers" + (" or a text in the codebook's codes"
                                                         if var.codes else "")
                        + "; leave the cell empty for a missing code, or declare it in "
                        "missing_codes")
            self.add(ERROR, rule, cells_message(raw, at, self.lines[at], what, hint,
                                                self.row_label),
                     self.cols["value"], rows=self.lines[at], count=len(at))

    def each_group(self, rule, groups, message, column, severity=ERROR):
        """One problem per (key, rows) in ``groups``, capped, then a summary."""
        groups = list(groups)
        for key, rows in groups[:MAX_PROBLEMS_PER_RULE]:
            text, lines = message(key, rows)
            self.add(severity, rule, text, column, rows=lines)
        if len(groups) > MAX_PROBLEMS_PER_RULE:
            self.add(severity, rule, f"{len(groups) - MAX_PROBLEMS_PER_RULE:,} more like this "
                     f"({rule})", column, count=len(groups) - MAX_PROBLEMS_PER_RULE)

    # -- run --------------------------------------------------------------------------------
    def run(self) -> tuple[ValidationReport, _Parsed | None]:
        report = ValidationReport(self.file, self.problems, self.codebook,
                                  row_label=self.row_label)
        if not self.check_columns():  # without condition, rater and value nothing can be read
            return report, None
        self.drop_empty_rows()
        if len(self.raw) == 0:
            self.add(ERROR, "empty-file", "the file has no data rows")
            return report, None
        self.read_cells()
        self.check_id_spaces()
        self.check_values()
        self.check_duplicates()
        members = self.check_nesting()
        self.check_outcomes()
        self.check_reliability_possible()
        report.counts = self.count_units(members)
        report.codebook = self.codebook.restrict(self.condition[self.known].unique())
        self.problems[:] = group_repeated(self.problems)
        if any(p.rule in CODE_RULES for p in report.errors):
            return report, None
        keep = self.known
        codes = pd.DataFrame({
            "line": self.lines[keep],
            "condition": self.condition[keep].to_numpy(),
            "level": self.level[keep].to_numpy(),
            "unit": self.unit[keep].to_numpy(),
            "rater": self.rater[keep].to_numpy(),
            "value": self.value[keep].to_numpy(),
        })
        return report, _Parsed(codes, members, report)

    # -- whole-file checks ------------------------------------------------------------------
    def check_columns(self) -> bool:
        """Required columns present; unknown columns warned about.

        Returns False when the condition, rater or value column is missing. A missing ID
        column is an error too, but the codes can still be read (for their reliability)
        when a ``unit`` column names the units.
        """
        cb, columns = self.codebook, set(self.raw.columns)
        ok = True
        needed = [*cb.ids.values(), *(self.cols[k] for k in ("condition", "rater", "value"))]
        hint = self.source.where_columns(needed) if self.source is not None else ""
        for level, column in cb.ids.items():
            if column not in columns:
                self.add(ERROR, "missing-id-column",
                         f"the {level} ID column {column!r} (named in [ids] of {cb.source}) is "
                         f"not in the file: the coding sheet carries the IDs of every level{hint}",
                         column)
        for key in ("condition", "rater", "value"):
            if self.cols[key] not in columns:
                ok = False
                self.add(ERROR, "missing-coded-column",
                         f"the {key} column {self.cols[key]!r} (named in [coded] of {cb.source}) "
                         f"is not in the file{hint}", self.cols[key])
        known = {*cb.ids.values(), *self.cols.values()}
        unknown = [c for c in self.raw.columns if c not in known]
        if unknown:
            self.add(WARNING, "unknown-column",
                     f"{len(unknown)} column{'s' * (len(unknown) > 1)} not used by the coding "
                     f"sheet {'are' if len(unknown) > 1 else 'is'} ignored: "
                     f"{', '.join(map(repr, unknown))}", ", ".join(unknown))
        return ok

    def drop_empty_rows(self):
        empty = self.raw.isna().all(axis=1).to_numpy()
        if empty.any():
            lines = self.lines[empty]
            self.add(WARNING, "empty-rows",
                     f"{len(lines):,} empty row{'s' * (len(lines) > 1)} ignored "
                     f"({self.where(lines)})",
                     rows=lines)
            self.raw = self.raw.loc[~empty].reset_index(drop=True)
            self.lines = self.lines[~empty]

    # -- cell checks ---------------------------------------------------------------------------
    def read_cells(self):
        """Parse conditions, raters, units and values; report empty and unknown cells."""
        cb, cols = self.codebook, self.cols
        self.condition = as_id(self.raw[cols["condition"]])
        self.rater = as_id(self.raw[cols["rater"]])
        levels = {n: v.level for n, v in [*cb.conditions.items(), *cb.outcomes.items()]}
        self.level = self.condition.map(levels)
        self.known = self.level.notna().to_numpy()

        self.each_row("missing-condition", self.condition.isna().to_numpy(), cols["condition"],
                      lambda pos: "empty condition (every code names the condition it codes)")
        unknown = self.condition.notna() & self.level.isna()
        if unknown.any():
            names = list(dict.fromkeys(self.condition[unknown]))
            hints = []
            for name in names:
                close = difflib.get_close_matches(name.strip().lower(), levels, n=1, cutoff=0.8)
                if close:
                    hints.append(f"{name!r} may be {close[0]!r}")
            lines = self.lines[unknown.to_numpy()]
            self.add(WARNING, "unknown-condition",
                     f"{len(names)} condition{'s' * (len(names) > 1)} not in the codebook "
                     f"{'are' if len(names) > 1 else 'is'} ignored: {', '.join(map(repr, names))} "
                     f"({self.where(lines)})" + (f" ({'; '.join(hints)})" if hints else ""),
                     cols["condition"], rows=lines)
        self.each_row("missing-rater", (self.rater.isna() & self.known).to_numpy(),
                      cols["rater"], lambda pos: "empty rater (every code names who gave it)")

        # the unit and the nesting: IDs of the levels each row speaks for (see docstring)
        absent = pd.Series(pd.NA, index=self.raw.index, dtype="str")
        self.ids = pd.DataFrame({lvl: as_id(self.raw[cb.ids[lvl]]) if cb.ids[lvl] in self.raw
                                 else absent for lvl in cb.levels})
        for lvl in cb.levels:
            self.ids[lvl] = self.ids[lvl].where(_speaks_for(self.level, lvl))
        self.unit = pd.Series(pd.NA, index=self.raw.index, dtype="str")
        unit_column = self.raw.get(cols["unit"])
        unit_given = as_id(unit_column) if unit_column is not None else None
        for lvl in cb.levels:
            at_level = (self.level == lvl).to_numpy()
            own = self.ids[lvl]
            if unit_given is not None:
                both = (own.notna() & unit_given.notna()).to_numpy()
                clash = at_level & both & (own != unit_given).to_numpy()
                self.each_row("unit-mismatch", clash, cols["unit"], lambda pos, lvl=lvl: (
                    f"unit {show_value(unit_given.iat[pos])} disagrees with {lvl} ID "
                    f"{show_value(self.ids[lvl].iat[pos])} (column {cb.ids[lvl]!r})"))
                own = own.fillna(unit_given.where(at_level))
                self.ids[lvl] = own
            self.unit = self.unit.mask(at_level, own)
        for lvl in cb.levels:
            if unit_given is None and cb.ids[lvl] not in self.raw:
                continue  # the absent ID column was reported once, above
            no_unit = (self.level == lvl).to_numpy() & self.unit.isna().to_numpy()
            fill = repr(cb.ids[lvl]) + (f" or {cols['unit']!r}" if unit_given is not None else "")
            self.each_row("missing-unit", no_unit, cb.ids[lvl], lambda pos, lvl=lvl, fill=fill: (
                f"empty {lvl} ID for {lvl}-level {self.condition.iat[pos]!r}: fill {fill}"))

    def check_id_spaces(self):
        """IDs, raters and condition names with spaces around them: removed, and said where."""
        cb = self.codebook
        columns = [c for c in dict.fromkeys([*cb.ids.values(), *self.cols.values()])
                   if c in self.raw.columns and c != self.cols["value"]]
        for column in columns:
            self.warn_spaced(column, "value")

    def check_values(self):
        """Codes are numbers inside their condition's scale (empty = missing, allowed)."""
        cb, column = self.codebook, self.cols["value"]
        raw = self.raw[column]
        value = to_float(raw, self.decimal)
        declared = np.zeros(len(raw), dtype=bool)
        for name in self.condition[self.known].unique():  # text codes and missing codes
            var = cb.variable(name)
            if var.codes or var.missing_codes:
                rows = (self.condition == name).to_numpy()
                number, missing = read_codes(raw[rows], var, self.decimal)
                value[rows] = number
                declared[rows] = missing
        self.declared = declared
        bad = raw.notna().to_numpy() & value.isna().to_numpy() & self.known & ~declared
        self.each_code("non-numeric", bad, "non-numeric code")
        value = value.where(~bad)
        scales = {n: v.scale for n, v in [*cb.conditions.items(), *cb.outcomes.items()]}
        low = self.condition.map({n: s.bounds[0] for n, s in scales.items()}).to_numpy(float)
        high = self.condition.map({n: s.bounds[1] for n, s in scales.items()}).to_numpy(float)
        integer = self.condition.map({n: s.integer for n, s in scales.items()}).eq(True).to_numpy()
        v = value.to_numpy(float)
        observed = ~np.isnan(v) & self.known
        with np.errstate(invalid="ignore"):
            not_finite = observed & ~np.isfinite(v)
            outside = observed & ~not_finite & ((v < low) | (v > high))
            fraction = observed & ~not_finite & ~outside & integer & (v % 1 != 0)
        for rule, mask in (("not-finite", not_finite), ("out-of-scale", outside),
                           ("not-integer", fraction)):
            self.each_code(rule, mask, _CELL_MESSAGES[rule])
        self.value = value.where(~(not_finite | outside | fraction))

    # -- checks across rows --------------------------------------------------------------------
    def check_duplicates(self):
        keyed = self.known & self.unit.notna().to_numpy() & self.rater.notna().to_numpy()
        rows = pd.DataFrame({"level": self.level, "unit": self.unit, "condition": self.condition,
                             "rater": self.rater, "value": self.value,
                             "_line": self.lines})[keyed]
        keys = ["level", "unit", "condition", "rater"]
        rows = rows[rows.duplicated(keys, keep=False)]

        def message(key, group):
            level, unit, condition, rater = key
            values = ", ".join(show_value(v) if pd.notna(v) else "empty" for v in group["value"])
            lines = group["_line"].to_numpy()
            return (f"rater {show_value(rater)} coded {condition!r} of {level} {show_value(unit)} "
                    f"{len(group)} times ({self.where(lines)}; values {values}): one code per "
                    "rater, unit and condition", lines[1:])

        self.each_group("duplicate-code", rows.groupby(keys, sort=False), message,
                        self.cols["rater"])

    def check_nesting(self) -> pd.DataFrame:
        """Each individual in one group per level, each network in one alliance; returns members."""
        cb, ids = self.codebook, self.ids.assign(_line=self.lines)
        groups = list(cb.group_levels)
        parent_pairs = [("individual", g) for g in groups]
        if {"network", "alliance"} <= set(groups):
            parent_pairs.append(("network", "alliance"))
        parent = {}
        for child, group in parent_pairs:
            pairs = ids[[child, group, "_line"]].dropna()
            n_groups = pairs.groupby(child, sort=False)[group].nunique()
            split = n_groups.index[n_groups > 1]
            rule = "network-in-two-alliances" if child == "network" else "individual-in-two-groups"

            def message(unit, rows, child=child, group=group):
                usual = rows[group].value_counts().index[0]
                parts = "; ".join(f"{show_value(g)} ({self.where(r['_line'])})"
                                  for g, r in rows.groupby(group, sort=False))
                return (f"{child} {show_value(unit)} is in {rows[group].nunique()} {group}s: {parts}",
                        rows.loc[rows[group] != usual, "_line"].to_numpy())

            bad = pairs[pairs[child].isin(split)]
            self.each_group(rule, bad.groupby(child, sort=False), message, cb.ids[group])
            parent[child, group] = pairs.drop_duplicates(child).set_index(child)[group]

        individuals = ids["individual"].dropna().unique()
        members = pd.DataFrame(index=pd.Index(individuals, name="individual"))
        for group in groups:
            members[group] = parent["individual", group].reindex(individuals).to_numpy()
        if ("network", "alliance") in parent:
            via_network = members["network"].map(parent["network", "alliance"])
            members["alliance"] = members["alliance"].fillna(via_network)

        # every unit's groups must be given somewhere
        for group in groups:
            lost = members.index[members[group].isna()]
            rows = ids[ids["individual"].isin(lost)]
            self.each_group("missing-group", rows.groupby("individual", sort=False),
                            lambda unit, r, group=group: (
                                f"individual {show_value(unit)} has no {group} ID on any of its rows "
                                f"({self.where(r['_line'])})", r["_line"].to_numpy()),
                            cb.ids[group])
        if ("network", "alliance") in parent:
            known = ids["network"].isin(parent["network", "alliance"].index)
            rows = ids[ids["network"].notna() & ~known]
            self.each_group("missing-group", rows.groupby("network", sort=False),
                            lambda unit, r: (f"network {show_value(unit)} has no alliance ID on any of "
                                             f"its rows ({self.where(r['_line'])})",
                                             r["_line"].to_numpy()),
                            cb.ids["alliance"])
        # a coded group needs members, or its codes have nowhere to go in the wide form
        on_person_rows = ids[ids["individual"].notna()]
        for group in groups:
            with_members = pd.concat([on_person_rows[group], members[group]]).dropna().unique()
            coded = (self.level == group).to_numpy() & ids[group].notna().to_numpy()
            orphans = ids[coded & ~ids[group].isin(with_members).to_numpy()]
            self.each_group("group-without-members", orphans.groupby(group, sort=False),
                            lambda unit, r, group=group: (
                                f"{group} {show_value(unit)} is coded ({self.where(r['_line'])}) but no "
                                "individual in the sheet belongs to it, so its codes cannot be "
                                "placed", r["_line"].to_numpy()),
                            cb.ids[group])
        return members

    def check_outcomes(self):
        outcomes = self.codebook.outcomes
        coded = self.condition.isin(list(outcomes)) & self.value.notna()
        if not coded.any():
            self.add(ERROR, "no-outcome", "no outcome is coded: the codebook declares "
                     f"{', '.join(map(repr, outcomes))}", self.cols["condition"])

    def check_reliability_possible(self):
        rows = pd.DataFrame({"condition": self.condition, "unit": self.unit, "rater": self.rater,
                             "_line": self.lines})[self.known & self.value.notna().to_numpy()]
        for name, group in rows.groupby("condition", sort=False):
            per_unit = group.groupby("unit")["rater"].nunique()
            if (per_unit >= 2).any():
                continue
            raters = group["rater"].dropna().unique()
            why = (f"coded by one rater only ({show_value(raters[0])})" if len(raters) == 1 else
                   f"no unit is coded by two raters (raters {', '.join(map(show_value, raters))} "
                   "coded different units)")
            self.add(WARNING, "no-reliability",
                     f"{name!r}: {why}, so its reliability cannot be estimated",
                     self.cols["condition"], rows=group["_line"].to_numpy()[:1])

    def count_units(self, members: pd.DataFrame) -> dict[str, int]:
        counts = {"individual": len(members)}
        for group in self.codebook.group_levels:
            counts[group] = int(members[group].nunique())
        return counts


def _speaks_for(row_level: pd.Series, level: str) -> np.ndarray:
    """Whether a row about a unit at ``row_level`` carries a usable ID of ``level``.

    A row names its own unit and the groups the unit belongs to: an individual row all its
    groups, a network row its alliance. Organisations are cross-classified (one
    organisation, several alliances), so an organisation row names only the organisation.
    """
    speaks = (row_level == level) | (row_level == "individual")
    if level == "alliance":
        speaks |= row_level == "network"
    return speaks.to_numpy()


# -- collapsing raters --------------------------------------------------------------------------
def collapse_raters(coded: pd.DataFrame, codebook: Codebook, how: str = "median") -> pd.DataFrame:
    """Collapse a coding sheet over raters into the wide form.

    Parameters
    ----------
    coded : pandas.DataFrame
        The coding sheet as read (module docstring), with the codebook's column names.
    codebook : Codebook
    how : {"median", "mean", "mode"}
        How the raters' codes of one unit and condition become one value; ties and
        halfway values are resolved as the module docstring documents, so the result is
        always a valid code of the condition's scale.

    Returns
    -------
    pandas.DataFrame
        One row per individual (in order of first appearance) with the codebook's ID
        columns, then each coded condition and outcome (codebook order) as float.
        Group-level values are repeated on their members' rows. A unit and condition
        without a code is NaN; the number of those is logged.

    Raises
    ------
    DataValidationError
        When the sheet has errors (see :func:`validate_coded`); warnings are logged.
    """
    _check_how(how)
    parsed = _parse(coded, codebook)
    for problem in parsed.report.warnings:
        logger.warning("%s", problem)
    return _collapse(parsed, codebook, how)


def _check_how(how: str) -> None:
    if how not in COLLAPSE_METHODS:
        raise ValueError(f"how must be one of {', '.join(COLLAPSE_METHODS)}, got {how!r}")


def _parse(coded, codebook, *, codes_only=False) -> _Parsed:
    """Validate; raise on errors (with ``codes_only``, only on errors in the codes)."""
    report, parsed = _CodedChecker(coded, codebook, "<data>", None, "row").run()
    if parsed is None or not (codes_only or report.ok):
        raise DataValidationError(report)
    return parsed


def _collapse(parsed: _Parsed, codebook: Codebook, how: str) -> pd.DataFrame:
    members = parsed.members
    codes = parsed.codes
    present = set(codes["condition"].unique())
    names = [n for n in [*codebook.conditions, *codebook.outcomes] if n in present]
    values = _collapsed_values(codes.dropna(subset=["value"]), codebook, how)
    wide = members.reset_index()
    n_missing = 0
    for name in names:
        level = codebook.variable(name).level
        of_name = values[values["condition"] == name].set_index("unit")["value"]
        wide[name] = wide[level].map(of_name).astype(float)
        n_units = wide[level].nunique()
        n_missing += n_units - int(wide.drop_duplicates(level)[name].notna().sum())
    if n_missing:
        logger.info("%d unit-condition cells have no code and stay missing (NaN)", n_missing)
    order = [*codebook.levels, *names]
    return wide[order].rename(columns=codebook.ids)


def _collapsed_values(observed: pd.DataFrame, codebook: Codebook, how: str) -> pd.DataFrame:
    """One value per (condition, unit) from the observed codes, as a valid code of its scale."""
    keys = ["condition", "unit"]
    scales = {n: codebook.variable(n).scale for n in observed["condition"].unique()}
    midpoints = {n: _midpoint(s) for n, s in scales.items()}
    if how == "mode":
        counts = (observed.groupby([*keys, "value"], sort=False).size()
                  .rename("n").reset_index())
        counts = counts[counts["n"] == counts.groupby(keys)["n"].transform("max")]
        mid = counts["condition"].map(midpoints)
        # nearest the midpoint first; no midpoint (NaN distance -> 0) or equally near: the lower
        counts = counts.assign(distance=(counts["value"] - mid).abs().fillna(0.0))
        counts = counts.sort_values([*keys, "distance", "value"], kind="stable")
        return counts.drop_duplicates(keys)[[*keys, "value"]].reset_index(drop=True)
    out = observed.groupby(keys, sort=False)["value"].agg(how).reset_index()
    integer = out["condition"].map({n: s.integer for n, s in scales.items()}).to_numpy(bool)
    mid = out["condition"].map(midpoints).to_numpy(float)
    out.loc[integer, "value"] = _round_to_code(out["value"].to_numpy(float)[integer], mid[integer])
    return out


def _midpoint(scale: Scale) -> float:
    """Middle of a bounded scale ((1 + K) / 2 for ordinal-K, 0.5 for binary); NaN otherwise."""
    low, high = scale.bounds
    return (low + high) / 2 if np.isfinite(low) and np.isfinite(high) else np.nan


def _round_to_code(values: np.ndarray, midpoint: np.ndarray) -> np.ndarray:
    """Round to whole codes; an exact half goes toward the midpoint, else (or at it) down."""
    lower = np.floor(values)
    fraction = values - lower
    half = np.isclose(fraction, 0.5)
    with np.errstate(invalid="ignore"):
        toward_middle = np.where(lower + 0.5 < midpoint, lower + 1, lower)  # NaN midpoint: down
    nearest = np.where(fraction > 0.5, lower + 1, lower)
    return np.where(half, toward_middle, nearest)


# -- reliability -----------------------------------------------------------------------------
def reliability(coded: pd.DataFrame, codebook: Codebook,
                threshold: float = LOW_ALPHA) -> pd.DataFrame:
    """Krippendorff's alpha of each coded condition (and outcome).

    Parameters
    ----------
    coded : pandas.DataFrame
        The coding sheet as read (module docstring).
    codebook : Codebook
    threshold : float
        Alpha below this is flagged (``unreliable``) and logged as a warning; default
        0.667, the smallest alpha Krippendorff (2004) accepts for tentative conclusions.

    Returns
    -------
    pandas.DataFrame
        Indexed by ``condition`` (codebook order; outcomes coded by raters included) with
        columns ``level``, ``scale``, ``metric`` (level of measurement: ordinal, nominal,
        ratio or interval, from the scale), ``units`` (units with at least one code),
        ``raters`` (raters who gave a code), ``pairable`` (codes in units coded by two or
        more raters: the n of Krippendorff's formula), ``alpha``, ``unreliable``
        (alpha < ``threshold``) and ``note`` (why alpha is NaN, when it is).

    Raises
    ------
    DataValidationError
        When the codes have errors (:data:`CODE_RULES`). Errors in the nesting or a
        missing outcome do not stop the reliability: a sheet of codes alone (``unit``,
        ``condition``, ``rater``, ``value``) is enough.

    References
    ----------
    Krippendorff, K. (2004). Content Analysis, 2nd ed., ch. 11. Sage.
    Hayes, A. F. & Krippendorff, K. (2007). Communication Methods and Measures 1(1), 77-89.
    doi:10.1080/19312450709336664
    """
    codes = _parse(coded, codebook, codes_only=True).codes
    table = reliability_table(codes, codebook, threshold)
    low = table.index[table["unreliable"]]
    if len(low):
        logger.warning("Krippendorff's alpha below %.3f for %s", threshold,
                       ", ".join(f"{n} ({table.at[n, 'alpha']:.3f})" for n in low))
    return table


def reliability_table(codes: pd.DataFrame, codebook: Codebook,
                      threshold: float = LOW_ALPHA) -> pd.DataFrame:
    """Krippendorff's alpha of each condition in a table of codes already read and checked.

    :func:`reliability` starts from the coding sheet; this starts from its codes, one row
    each, as :attr:`CodedSurvey.codes` (and a survey's ``rater_codes``) hold them, e.g. a
    subset of the conditions. It logs nothing.

    Parameters
    ----------
    codes : pandas.DataFrame
        Columns ``condition``, ``unit``, ``rater`` and ``value`` (float; NaN for an empty
        code); the values must be valid codes of the codebook's scales.
    codebook : Codebook
    threshold : float
        Alpha below this is flagged ``unreliable``.

    Returns
    -------
    pandas.DataFrame
        The table :func:`reliability` returns, for the conditions present in ``codes``.
    """
    observed = codes.dropna(subset=["value"])
    present = set(codes["condition"].unique())
    names = [n for n in [*codebook.conditions, *codebook.outcomes] if n in present]
    rows = []
    for name in names:
        var = codebook.variable(name)
        mine = observed[observed["condition"] == name]
        pairable = mine[mine.groupby("unit")["value"].transform("size").to_numpy() >= 2]
        metric = METRIC[var.scale.kind]
        alpha, note = np.nan, ""
        if pairable.empty:
            note = "no unit coded by two raters"
        elif pairable["value"].nunique() < 2:
            note = "every pairable code is the same value: alpha is undefined without variation"
        else:
            # raters x units; units coded once carry no pair and are left out
            matrix = pairable.pivot(index="rater", columns="unit", values="value")
            domain = None
            if var.scale.kind in ("ordinal", "binary"):
                low, high = var.scale.bounds
                domain = np.arange(low, high + 1)
            alpha = float(krippendorff.alpha(reliability_data=matrix.to_numpy(float),
                                             value_domain=domain, level_of_measurement=metric))
        rows.append({"condition": name, "level": var.level, "scale": var.scale.name,
                     "metric": metric, "units": int(mine["unit"].nunique()),
                     "raters": int(mine["rater"].nunique()), "pairable": len(pairable),
                     "alpha": alpha, "unreliable": bool(alpha < threshold), "note": note})
    columns = ["condition", "level", "scale", "metric", "units", "raters", "pairable", "alpha",
               "unreliable", "note"]
    return pd.DataFrame(rows, columns=columns).set_index("condition")


# -- loading a file ----------------------------------------------------------------------------
@dataclass(frozen=True)
class CodedSurvey:
    """A coding sheet, loaded: the collapsed survey, the raters' codes and their reliability.

    Attributes
    ----------
    survey : CaseSurvey
        The raters collapsed into one value per unit and condition (``collapse``).
    codes : pandas.DataFrame
        Every code of a known condition, one row each, with columns ``line`` (line or row in
        the file), ``condition``, ``level``, ``unit`` (the ID at the condition's level),
        ``rater`` and ``value`` (float; NaN for an empty code). For models that use the
        raters' codes directly (latent true score plus rater bias).
    reliability : pandas.DataFrame
        Krippendorff's alpha per condition (see :func:`reliability`).
    report : ValidationReport
        Every warning about the sheet (and about the collapsed wide form).
    collapse : str
        How raters were collapsed (median, mean or mode).
    """

    survey: CaseSurvey
    codes: pd.DataFrame
    reliability: pd.DataFrame
    report: ValidationReport
    collapse: str

    def with_raters(self) -> CaseSurvey:
        """The survey carrying the raters' codes, for the rater model (:mod:`models.raters`).

        Its tables keep the collapsed values (used for the outcome and for conditions the
        rater model does not cover); the model replaces the rater-coded conditions by
        latent true scores measured by these codes.
        """
        return replace(self.survey, rater_codes=self.codes)

    @property
    def raters(self) -> list[str]:
        """Rater IDs in order of first appearance."""
        return list(dict.fromkeys(self.codes["rater"]))

    def __str__(self) -> str:
        n_codes = int(self.codes["value"].notna().sum())
        low = self.reliability.index[self.reliability["unreliable"]]
        lines = [str(self.survey),
                 f"{n_codes:,} codes by {len(self.raters)} raters, collapsed by {self.collapse}"]
        if len(low):
            lines.append(f"alpha below {LOW_ALPHA} for {', '.join(low)}")
        return "\n".join(lines)


def load_coded(path: str | Path, codebook: Codebook | str | Path | None = None,
               collapse: str = "median", *, sheet: str | int | None = None,
               encoding: str | None = None, sep: str | None = None) -> CodedSurvey:
    """Read, validate and collapse a coding sheet, and measure its reliability.

    Parameters
    ----------
    path : str or Path
        CSV, Parquet or Excel file (module docstring).
    codebook : Codebook, str or Path, optional
        A codebook or the path of its TOML file; ``None`` uses the shipped default.
    collapse : {"median", "mean", "mode"}
        How raters are collapsed for the survey (:func:`collapse_raters`).
    sheet : str or int, optional
        Excel sheet (default: the first).
    encoding, sep : str, optional
        A CSV file's encoding and delimiter (default: detected, see :mod:`data.io`).

    Returns
    -------
    CodedSurvey

    Raises
    ------
    DataFileError
        When the file cannot be read at all.
    DataValidationError
        When the sheet has errors; its ``report`` lists every problem.
    """
    report, result = check_coded_file(path, codebook, collapse=collapse, sheet=sheet,
                                      encoding=encoding, sep=sep)
    report.raise_for_errors()
    for problem in report.warnings:
        logger.warning("%s", problem)
    return result


def check_coded_file(path: str | Path, codebook: Codebook | str | Path | None = None, *,
                     collapse: str = "median", sheet: str | int | None = None,
                     encoding: str | None = None, sep: str | None = None,
                     ) -> tuple[ValidationReport, CodedSurvey | None]:
    """Validate a coding-sheet file; also return the loaded result when it has no error.

    The report holds the sheet's problems, a ``low-reliability`` warning per condition with
    alpha below 0.667, and the warnings of the wide validator on the collapsed table
    (e.g. an outcome category never observed); its ``counts`` and ``summary`` are those of
    the collapsed table. Never raises on problems in the data.
    """
    _check_how(collapse)
    codebook = codebook if isinstance(codebook, Codebook) else load_codebook(codebook)
    path = Path(path)
    read = read_rows(path, sheet=sheet, encoding=encoding, sep=sep)
    label = read.row_label
    report, parsed = _CodedChecker(read.frame, codebook, read.file, read.lines, label,
                                   read).run()
    if not report.ok:
        return report, None

    table = reliability_table(parsed.codes, codebook)
    for name in table.index[table["unreliable"]]:
        report.problems.append(Problem(
            WARNING, str(path), None, codebook.coded["condition"],
            f"{name!r}: Krippendorff's alpha {table.at[name, 'alpha']:.3f} is below {LOW_ALPHA} "
            f"({table.at[name, 'metric']} metric, {table.at[name, 'pairable']} pairable codes): "
            "conclusions from it are not trustworthy", "low-reliability", (), label))

    wide = _collapse(parsed, codebook, collapse)
    wide_report, clean = check_wide(wide, codebook, file=f"{path} (raters collapsed by {collapse})")
    # the collapsed table is built valid; its warnings (e.g. unobserved categories) still count
    report.problems.extend(wide_report.problems)
    report.counts, report.summary = wide_report.counts, wide_report.summary
    report.codebook, report.absent = wide_report.codebook, wide_report.absent
    if clean is None:
        return report, None
    survey = CaseSurvey.from_wide(clean, codebook, source=str(path), sha256=file_sha256(path))
    survey = replace(survey, measurement=collapse)
    return report, CodedSurvey(survey, parsed.codes, table, report, collapse)


__all__ = ["CODE_COLUMNS", "CODE_RULES", "COLLAPSE_METHODS", "LOW_ALPHA", "METRIC", "CodedSurvey",
           "DataValidationError", "check_coded_file", "collapse_raters", "load_coded",
           "reliability", "reliability_table", "validate_coded"]
