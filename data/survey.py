"""The validated case survey: one table per level, with xarray coordinates.

A :class:`CaseSurvey` is what every later step (models, checks, reports) takes. Inside it,
ID columns are named after their level (``network``, ``organisation``, ``alliance``), not
after the user's column names, which the codebook maps.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import xarray as xr

from .codebook import Codebook


@dataclass(frozen=True)
class CaseSurvey:
    """A case survey split into one table per level.

    Attributes
    ----------
    codebook : Codebook
        Restricted to the conditions and outcomes present in the data.
    individuals : pandas.DataFrame
        Indexed by individual ID (``individual``); columns: the group IDs of each
        individual (``network``, ``organisation``, ``alliance`` where present), the
        individual-level conditions and the outcomes. Missing codes are NaN.
    groups : dict of str to pandas.DataFrame
        For each group level present, a table indexed by that level's ID with the
        conditions declared at that level (networks also carry their ``alliance``).
    source : str
        Where the data came from (a file name, or a description).
    sha256 : str
        SHA-256 of the source file's bytes ("" when not read from a file).
    rater_codes : pandas.DataFrame or None
        The raters' codes of a coding sheet (:attr:`data.coded.CodedSurvey.codes`) when
        the model is to use them directly (the rater model of :mod:`models.raters`)
        rather than the collapsed values in the tables; None otherwise.
    measurement : str
        How the tables' values were measured: ``observed`` (a wide file), or the rule
        that collapsed a coding sheet's raters (``median``, ``mean``, ``mode``).
    """

    codebook: Codebook
    individuals: pd.DataFrame
    groups: dict[str, pd.DataFrame] = field(default_factory=dict)
    source: str = "<data>"
    sha256: str = ""
    rater_codes: pd.DataFrame | None = field(default=None, compare=False, repr=False)
    measurement: str = "observed"

    # -- construction ------------------------------------------------------------------
    @classmethod
    def from_wide(cls, frame: pd.DataFrame, codebook: Codebook, source: str = "<data>",
                  sha256: str = "") -> CaseSurvey:
        """Split an already-validated wide table (user column names) into level tables.

        Group-level conditions are taken from the first non-missing value in each group
        (validation has checked that they are constant within the group).
        """
        codebook = codebook.restrict(frame.columns)
        rename = {column: level for level, column in codebook.ids.items()}
        wide = frame.rename(columns=rename)
        for level in codebook.levels:
            wide[level] = wide[level].astype(str)
        id_cols = [lvl for lvl in codebook.group_levels]
        ind_vars = codebook.variables_at("individual")
        individuals = wide[["individual", *id_cols, *ind_vars]].set_index("individual")
        individuals[ind_vars] = individuals[ind_vars].apply(pd.to_numeric, errors="coerce").astype(float)
        groups = {}
        for level in codebook.group_levels:
            cols = codebook.variables_at(level)
            parent = ["alliance"] if level == "network" and "alliance" in codebook.ids else []
            table = wide[[level, *parent, *cols]].copy()
            table[cols] = table[cols].apply(pd.to_numeric, errors="coerce").astype(float)
            groups[level] = table.groupby(level, sort=True).first()
            groups[level].index.name = level
        return cls(codebook=codebook, individuals=individuals, groups=groups,
                   source=source, sha256=sha256)

    def to_wide(self) -> pd.DataFrame:
        """One row per individual with every condition, using the codebook's column names."""
        wide = self.individuals.reset_index()
        for level, table in self.groups.items():
            cols = self.codebook.variables_at(level)
            wide = wide.join(table[cols], on=level)
        order = [*self.codebook.levels, *self.codebook.conditions, *self.codebook.outcomes]
        wide = wide[[c for c in order if c in wide.columns]]
        return wide.rename(columns={level: col for level, col in self.codebook.ids.items()})

    # -- views ----------------------------------------------------------------------------
    @property
    def conditions(self) -> list[str]:
        """Condition names present in the data, in codebook order."""
        return list(self.codebook.conditions)

    @property
    def outcomes(self) -> list[str]:
        """Outcome names present in the data."""
        return list(self.codebook.outcomes)

    def table(self, level: str) -> pd.DataFrame:
        """The table of ``level`` (``individual`` gives :attr:`individuals`)."""
        return self.individuals if level == "individual" else self.groups[level]

    def ids(self, level: str) -> np.ndarray:
        """Sorted unique IDs of ``level``."""
        return self.table(level).index.to_numpy()

    def group_index(self, level: str, of: str = "individual") -> np.ndarray:
        """Integer position of each ``of`` unit's group at ``level`` (for model indexing).

        ``of`` may be ``individual`` (any group level) or ``network`` (``level="alliance"``).
        """
        codes = pd.Index(self.ids(level))
        return codes.get_indexer(self.table(of)[level].to_numpy())

    def missing(self) -> pd.Series:
        """Number of missing codes per condition and outcome (counted in its own level's table)."""
        counts = {}
        for name in [*self.conditions, *self.outcomes]:
            level = self.codebook.variable(name).level
            if name in self.table(level).columns:
                counts[name] = int(self.table(level)[name].isna().sum())
            else:  # outcomes sit in the individuals table whatever their level: count per group
                counts[name] = int(self.individuals.groupby(level)[name].first().isna().sum())
        return pd.Series(counts, name="missing", dtype=int)

    def counts(self) -> dict[str, int]:
        """Number of units at each level."""
        return {level: len(self.table(level)) for level in self.codebook.levels}

    @property
    def coords(self) -> dict[str, list]:
        """Coordinates for xarray / PyMC: one entry per level, plus ``condition`` and ``outcome``."""
        out = {level: list(self.ids(level)) for level in self.codebook.levels}
        out["condition"] = self.conditions
        out["outcome"] = self.outcomes
        return out

    def to_xarray(self) -> xr.Dataset:
        """Every variable on its own level's dimension.

        Group membership becomes non-dimension coordinates named ``<group>_of_<unit>``
        (e.g. ``network_of_individual``), since ``network`` itself is a dimension.
        """
        parts = []
        for level in self.codebook.levels:
            table = self.table(level)
            members = [c for c in table.columns if c in self.codebook.levels]
            ds = xr.Dataset.from_dataframe(table.drop(columns=members).rename_axis(level))
            ds = ds.assign_coords({f"{m}_of_{level}": (level, table[m].to_numpy()) for m in members})
            parts.append(ds)
        merged = xr.merge(parts, join="outer", compat="no_conflicts")
        return merged.assign_attrs(source=self.source, sha256=self.sha256)

    def fingerprint(self) -> str:
        """SHA-256 of the data content (stable across file formats)."""
        blob = self.to_wide().to_csv(index=False).encode()
        return hashlib.sha256(blob).hexdigest()

    def __str__(self) -> str:
        counts = ", ".join(f"{n} {lvl}s" if n != 1 else f"1 {lvl}" for lvl, n in self.counts().items())
        n_missing = int(self.missing().sum())
        return (f"CaseSurvey from {self.source}: {counts}; {len(self.conditions)} conditions, "
                f"outcomes {', '.join(self.outcomes)}; {n_missing} missing codes")
