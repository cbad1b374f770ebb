"""The codebook: which columns are IDs, conditions and outcomes, and what each one means.

A codebook is a TOML file. Levels, sides and scales are declared there, never hard-coded,
so any nested survey of the same shape can be analysed. The shipped default
(``data/default_codebook.toml``) holds the conditions of the two source papers.

Format
------
::

    missing_codes = [-99, 999]  # optional: codes that mean "no answer", in every variable

    [ids]                      # column holding each level's ID; only `individual` is required
    individual = "respondent"
    network = "ksn"
    organisation = "firm"      # optional: cross-classified with network
    alliance = "case"          # optional

    [coded]                    # optional: column names of the coded (long) form
    unit = "unit"
    condition = "condition"
    rater = "rater"
    value = "value"

    [outcomes.learning_success]
    scale = "likert-5"
    level = "individual"       # optional, default individual
    label = "..."              # optional

    [conditions.contact_trust]
    level = "individual"                   # individual / network / organisation / alliance
    side = "interpersonal"                 # optional; default by level (see DEFAULT_SIDE)
    scale = "likert-5"                     # likert-5, likert-7, ordinal-K, binary, count, continuous
    expected_sign = "+"                    # optional: +, - or 0 (unknown)
    label = "Affective trust in the people of the network"   # optional
    source = "Lofstrom (2000)"             # optional
    codes = { low = 1, mid = 2, high = 3 } # optional: text codes and the number each stands for
    missing_codes = [-9, "n/a"]            # optional: replaces the top-level list for this variable

Missing codes
-------------
A cell holding a declared missing code (a number compared as a number, so ``-99`` also
matches ``-99.0``; a text compared after trimming spaces) is counted as missing and
imputed like an empty cell; it is never taken as a value. A variable's own
``missing_codes`` replaces the top-level list (``missing_codes = []`` opts out). A missing
code that is one of the categories of an ordinal or binary scale is a codebook error: it
would hide answers (on count and continuous scales, which take any number, the declaration
decides).

Text codes
----------
``codes`` maps the text in a cell (spaces around it trimmed, case kept) to the number it
stands for, e.g. ``codes = { M = 0, F = 1 }`` for a binary ``sex`` column. Each number must
be a valid code of the scale; numbers in the column are read as numbers as before.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from .errors import ProblemsError
from .tomlfile import read_toml

LEVELS = ("individual", "network", "organisation", "alliance")
GROUP_LEVELS = LEVELS[1:]  # the levels with a group effect (every level but the individual)
SIDES = ("interpersonal", "interorganisational")
DEFAULT_SIDE = {
    "individual": "interpersonal",
    "network": "interpersonal",
    "organisation": "interorganisational",
    "alliance": "interorganisational",
}
SIGNS = {"+": 1, "-": -1, "0": 0, "+1": 1, "1": 1, "-1": -1}
CODED_COLUMNS = ("unit", "condition", "rater", "value")
_ORDINAL = re.compile(r"^(?:ordinal-(\d+)|likert-(\d+))$")


class CodebookError(ProblemsError):
    """A codebook with problems; ``problems`` lists every one of them."""

    what = "the codebook"


@dataclass(frozen=True)
class Scale:
    """A measurement scale.

    ``kind`` is one of ``ordinal``, ``binary``, ``count``, ``continuous``; ordinal scales
    have ``n_categories`` categories coded ``1..n_categories``.
    """

    kind: str
    n_categories: int | None = None

    @classmethod
    def parse(cls, text: str) -> Scale:
        """Parse ``likert-5``, ``likert-7``, ``ordinal-K``, ``binary``, ``count`` or ``continuous``."""
        text = str(text).strip().lower()
        if text in ("binary", "count", "continuous"):
            return cls(text)
        match = _ORDINAL.match(text)
        if match:
            k = int(match.group(1) or match.group(2))
            if k < 2:
                raise ValueError(f"an ordinal scale needs at least 2 categories, got {text!r}")
            return cls("ordinal", k)
        raise ValueError(
            f"unknown scale {text!r} (use likert-5, likert-7, ordinal-K, binary, count or continuous)"
        )

    @property
    def name(self) -> str:
        """The scale written as in the codebook (``likert-5`` is written ``ordinal-5``)."""
        return f"ordinal-{self.n_categories}" if self.kind == "ordinal" else self.kind

    @property
    def bounds(self) -> tuple[float, float]:
        """Smallest and largest valid code (inclusive)."""
        if self.kind == "ordinal":
            return (1.0, float(self.n_categories))
        if self.kind == "binary":
            return (0.0, 1.0)
        if self.kind == "count":
            return (0.0, float("inf"))
        return (float("-inf"), float("inf"))

    @property
    def integer(self) -> bool:
        """Whether valid codes are whole numbers."""
        return self.kind != "continuous"

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True)
class Variable:
    """A condition or an outcome declared in the codebook."""

    name: str
    level: str
    scale: Scale
    side: str | None = None
    expected_sign: int = 0
    label: str = ""
    source: str = ""
    #: text code -> number, e.g. (("M", 0.0), ("F", 1.0))
    codes: tuple[tuple[str, float], ...] = ()
    #: codes meaning "no answer": numbers (float) and texts (str)
    missing_codes: tuple[float | str, ...] = ()

    def to_dict(self) -> dict:
        """The TOML table for this variable."""
        out = {"level": self.level, "scale": self.scale.name}
        if self.side:
            out["side"] = self.side
        if self.expected_sign:
            out["expected_sign"] = "+" if self.expected_sign > 0 else "-"
        if self.label:
            out["label"] = self.label
        if self.source:
            out["source"] = self.source
        if self.codes:
            out["codes"] = {k: _toml_number(v) for k, v in self.codes}
        if self.missing_codes:  # the top-level list is already resolved into each variable
            out["missing_codes"] = [m if isinstance(m, str) else _toml_number(m)
                                    for m in self.missing_codes]
        return out


def _toml_number(value: float) -> int | float:
    return int(value) if float(value).is_integer() else float(value)


@dataclass(frozen=True)
class Codebook:
    """IDs, conditions and outcomes of a case survey.

    Use :func:`load_codebook` to read one; :meth:`from_dict` builds one from a mapping of
    the same shape as the TOML file.
    """

    ids: dict[str, str]
    conditions: dict[str, Variable]
    outcomes: dict[str, Variable]
    coded: dict[str, str] = field(default_factory=lambda: {c: c for c in CODED_COLUMNS})
    source: str = "<codebook>"

    # -- views -----------------------------------------------------------------------
    @property
    def levels(self) -> tuple[str, ...]:
        """Levels that have an ID column, in nesting order."""
        return tuple(level for level in LEVELS if level in self.ids)

    @property
    def group_levels(self) -> tuple[str, ...]:
        """Levels above the individual that have an ID column."""
        return tuple(level for level in self.levels if level != "individual")

    def conditions_at(self, level: str) -> list[str]:
        """Names of the conditions declared at ``level``."""
        return [n for n, v in self.conditions.items() if v.level == level]

    def variables_at(self, level: str) -> list[str]:
        """Names of the conditions, then the outcomes, declared at ``level``."""
        return self.conditions_at(level) + [n for n, v in self.outcomes.items() if v.level == level]

    def conditions_on(self, side: str) -> list[str]:
        """Names of the conditions on ``side`` (interpersonal or interorganisational)."""
        return [n for n, v in self.conditions.items() if v.side == side]

    def variable(self, name: str) -> Variable:
        """A condition or outcome by name."""
        if name in self.conditions:
            return self.conditions[name]
        if name in self.outcomes:
            return self.outcomes[name]
        raise KeyError(f"{name!r} is neither a condition nor an outcome in {self.source}")

    def restrict(self, columns) -> Codebook:
        """A copy of this codebook with only the conditions and outcomes present in ``columns``."""
        columns = set(columns)
        return Codebook(
            ids=dict(self.ids),
            conditions={n: v for n, v in self.conditions.items() if n in columns},
            outcomes={n: v for n, v in self.outcomes.items() if n in columns},
            coded=dict(self.coded),
            source=self.source,
        )

    # -- (de)serialisation ----------------------------------------------------------
    @classmethod
    def from_dict(cls, raw: dict, source: str = "<codebook>") -> Codebook:
        """Build a codebook from a mapping, collecting every problem before raising."""
        problems: list[str] = []
        for key in raw:
            if key not in ("ids", "coded", "conditions", "outcomes", "missing_codes"):
                problems.append(f"unknown section [{key}] (expected ids, coded, conditions, "
                                "outcomes, or the key missing_codes)")
        missing = _missing_codes(raw.get("missing_codes", []), "missing_codes", problems)
        raw, bad = dict(raw), set()  # sections that are not tables: reported once, then empty
        for key in ("ids", "coded", "conditions", "outcomes"):
            if not isinstance(raw.get(key, {}), dict):
                problems.append(f"[{key}] must be a table, got {raw[key]!r}")
                raw[key] = {}
                bad.add(key)

        ids_raw = raw.get("ids", {})
        ids: dict[str, str] = {}
        for level, column in ids_raw.items():
            if level not in LEVELS:
                problems.append(f"[ids] {level!r} is not a level (use {', '.join(LEVELS)})")
            elif not isinstance(column, str) or not column:
                problems.append(f"[ids] {level} must name a column, got {column!r}")
            else:
                ids[level] = column
        if "individual" not in ids_raw and "ids" not in bad:
            problems.append("[ids] individual is required (the column holding respondent IDs)")
        if len(set(ids.values())) < len(ids):
            problems.append("[ids] two levels name the same column")

        coded = {c: c for c in CODED_COLUMNS}
        for key, column in raw.get("coded", {}).items():
            if key not in CODED_COLUMNS:
                problems.append(f"[coded] unknown key {key!r} (use {', '.join(CODED_COLUMNS)})")
            else:
                coded[key] = str(column)

        conditions = _variables(raw.get("conditions", {}), "conditions", ids, problems, missing)
        outcomes = _variables(raw.get("outcomes", {}), "outcomes", ids, problems, missing)
        if not raw.get("outcomes") and "outcomes" not in bad:
            problems.append("no [outcomes.NAME] table: declare at least one outcome")
        for name in set(conditions) & set(outcomes):
            problems.append(f"{name!r} is declared both as a condition and as an outcome")
        for name in (set(conditions) | set(outcomes)) & set(ids.values()):
            problems.append(f"{name!r} is both an ID column and a variable")
        # Inside a CaseSurvey the ID columns are renamed to their level names.
        for name in sorted((set(conditions) | set(outcomes)) & set(ids) - set(ids.values())):
            problems.append(f"{name!r} is a level name and cannot name a variable; rename it")
        if problems:
            raise CodebookError(source, problems)
        return cls(ids=ids, conditions=conditions, outcomes=outcomes, coded=coded, source=source)

    def to_dict(self) -> dict:
        """The codebook as a mapping of the TOML file's shape (round-trips via from_dict)."""
        return {
            "ids": dict(self.ids),
            "coded": dict(self.coded),
            "outcomes": {n: v.to_dict() for n, v in self.outcomes.items()},
            "conditions": {n: v.to_dict() for n, v in self.conditions.items()},
        }


def _missing_codes(value, where: str, problems: list[str]) -> tuple[float | str, ...] | None:
    """A ``missing_codes`` list: numbers (as float) and texts; None when it is not valid."""
    if not isinstance(value, list):
        problems.append(f"{where} must be a list such as [-99, 999], got {value!r}")
        return None
    out = []
    for code in value:
        if isinstance(code, bool) or not isinstance(code, (int, float, str)):
            problems.append(f"{where}: {code!r} is neither a number nor a text")
        elif isinstance(code, str):
            if not code.strip():
                problems.append(f"{where}: an empty text is already missing; leave it out")
            else:
                out.append(code.strip())
        else:
            out.append(float(code))
    return tuple(out)


def _codes(value, where: str, scale: Scale | None, problems: list[str]) -> tuple:
    """A ``codes`` table (text -> number), each number a valid code of ``scale``."""
    if not isinstance(value, dict):
        problems.append(f"{where} codes must be a table such as {{ M = 0, F = 1 }}, got {value!r}")
        return ()
    out = []
    for text, number in value.items():
        if isinstance(number, bool) or not isinstance(number, (int, float)):
            problems.append(f"{where} codes: {text!r} must map to a number, got {number!r}")
        elif scale is not None and not _valid_code(float(number), scale):
            problems.append(f"{where} codes: {text!r} = {number!r} is not a valid code of "
                            f"{scale.name}")
        elif not text.strip():
            problems.append(f"{where} codes: an empty text cannot be a code")
        else:
            out.append((text.strip(), float(number)))
    return tuple(out)


def _valid_code(value: float, scale: Scale) -> bool:
    low, high = scale.bounds
    return low <= value <= high and (not scale.integer or value.is_integer())


def _variables(table: dict, section: str, ids: dict, problems: list[str],
               missing: tuple | None = ()) -> dict[str, Variable]:
    out: dict[str, Variable] = {}
    allowed = {"level", "side", "scale", "expected_sign", "label", "source", "codes",
               "missing_codes"}
    for name, spec in table.items():
        where = f"[{section}.{name}]"
        if not isinstance(spec, dict):
            problems.append(f"{where} must be a table")
            continue
        for key in set(spec) - allowed:
            problems.append(f"{where} unknown key {key!r} (use {', '.join(sorted(allowed))})")
        default_level = "individual" if section == "outcomes" else None
        level = spec.get("level", default_level)
        if level is None:
            problems.append(f"{where} level is required ({', '.join(LEVELS)})")
        elif level not in LEVELS:
            problems.append(f"{where} level {level!r} is not one of {', '.join(LEVELS)}")
        elif level not in ids and ids and level != "individual":  # individual: checked in [ids]
            problems.append(f"{where} level {level!r} has no ID column in [ids]")
        if "scale" not in spec:
            problems.append(f"{where} scale is required")
            scale = None
        else:
            try:
                scale = Scale.parse(spec["scale"])
            except ValueError as err:
                problems.append(f"{where} {err}")
                scale = None
        side = spec.get("side")
        if section == "conditions":
            # A defaulted side is only checked when the level is valid (else the level
            # problem above already says what is wrong).
            if side is None:
                side = DEFAULT_SIDE.get(level) if level in LEVELS else None
            elif side not in SIDES:
                problems.append(f"{where} side {side!r} is not one of {', '.join(SIDES)}")
        elif side is not None:
            problems.append(f"{where} outcomes have no side")
        sign_text = str(spec.get("expected_sign", "0")).strip()
        if sign_text not in SIGNS:
            problems.append(f"{where} expected_sign {sign_text!r} is not +, - or 0")
        codes = _codes(spec.get("codes", {}), where, scale, problems)
        if "missing_codes" in spec:
            own = _missing_codes(spec["missing_codes"], f"{where} missing_codes", problems)
            where_missing = f"{where} missing_codes"
        else:
            own, where_missing = missing, f"top-level missing_codes (for {name!r})"
        for code in own or ():
            # on a scale of categories a valid code is an answer; count and continuous scales
            # take any number, so there the user's declaration decides
            if (scale is not None and scale.kind in ("ordinal", "binary")
                    and not isinstance(code, str) and _valid_code(code, scale)):
                problems.append(f"{where_missing}: {_toml_number(code)} is a valid code of "
                                f"{scale.name} and would hide answers"
                                + ("; give the variable its own missing_codes"
                                   if "missing_codes" not in spec else ""))
            if code in {k for k, _ in codes}:
                problems.append(f"{where_missing}: {code!r} is also in codes")
        if scale is not None and level in LEVELS and (side in SIDES or section == "outcomes"):
            out[name] = Variable(
                name=name,
                level=level,
                scale=scale,
                side=side,
                expected_sign=SIGNS.get(sign_text, 0),
                label=str(spec.get("label", "")),
                source=str(spec.get("source", "")),
                codes=codes,
                missing_codes=own or (),
            )
    return out


def default_codebook_path() -> Path:
    """Path of the shipped default codebook."""
    return Path(str(resources.files("data") / "default_codebook.toml"))


def load_codebook(path: str | Path | None = None) -> Codebook:
    """Read a codebook from TOML; ``None`` gives the shipped default.

    Raises
    ------
    CodebookError
        Listing every problem in the file.
    """
    path = Path(path) if path is not None else default_codebook_path()
    return Codebook.from_dict(read_toml(path, CodebookError), source=str(path))
