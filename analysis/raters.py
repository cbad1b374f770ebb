"""The raters of a rater-model run: their severities, and the agreement the model implies.

A run fitted with the rater model (:mod:`models.raters`) measures each rater-coded
condition's true score by the raters' codes. This check reads, per posterior draw:

- each rater's **severity** on each condition it coded (true-score SDs; positive: the
  rater codes lower than the others), and its mean over the conditions the rater coded;
- the **model-implied agreement** per condition: the intra-class correlation of two
  raters' latent codes of one unit, i.e. the share of a code's latent variance that is the
  unit's true score (:func:`models.raters.rater_draws`), with its interval;

and sets beside the agreement **Krippendorff's alpha** of the same codes (:mod:`data.coded`),
the observed agreement on the code scale. The two answer the same question on different
scales (alpha on the ordinal codes, the model on the logit scale of the codes), so they
are close, not equal; a model agreement far from alpha says the measurement model does not
describe the codes. It also reports, per condition, whether the raters overlap (the
rater-unit graph is connected): when they do not, their severities are compared through the
prior only.

:func:`rater_agreement` computes it; :class:`RaterAgreement` is saved with the other checks
(``checks.json`` holds its summaries, ``checks/draws.nc`` its draws) and read back the same.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
import xarray as xr

from data.jsonable import json_scalar

from .decomposition import posterior_summary
from .figures import new_figure

logger = logging.getLogger(__name__)

__all__ = ["AGREEMENT_QUANTITY", "RaterAgreement", "plot_raters", "rater_agreement"]

AGREEMENT_QUANTITY = ("model-implied agreement of two raters: the share of a code's latent "
                      "(logit-scale) variance that is the unit's true score")
SEVERITY_SCALE = "true-score SDs; positive: codes lower than the other raters'"
# Krippendorff's alpha columns kept from data.coded's reliability table
ALPHA_COLUMNS = ("units", "raters", "pairable", "alpha", "note")


@dataclass(frozen=True)
class RaterAgreement:
    """Rater severities and agreement of a rater-model run (:func:`rater_agreement`).

    Attributes
    ----------
    draws : xarray.Dataset
        :func:`models.raters.rater_draws`: ``severity`` and ``discrimination`` (chain, draw,
        rater_condition, rater), ``agreement`` (chain, draw, rater_condition), ``rater_coded``
        (rater_condition, rater) and ``overlap_components`` (rater_condition).
    alpha : pandas.DataFrame or None
        Krippendorff's alpha of the codes per condition (index ``condition``; columns
        ``units``, ``raters``, ``pairable``, ``alpha``, ``note``); None when the codes were
        not at hand (a fit checked without its survey).
    """

    draws: xr.Dataset
    alpha: pd.DataFrame | None = None

    @property
    def conditions(self) -> list[str]:
        """The rated conditions, in the draws' order."""
        return [str(c) for c in self.draws["rater_condition"].values]

    @property
    def raters(self) -> list[str]:
        """The raters' ids, in the draws' order."""
        return [str(r) for r in self.draws["rater"].values]

    @property
    def coded(self) -> xr.DataArray:
        """(rater_condition x rater) True where the rater coded the condition."""
        return self.draws["rater_coded"].astype(bool)

    def overall_severity(self) -> xr.DataArray:
        """Each rater's mean severity over the conditions it coded, per draw (chain, draw, rater)."""
        coded = self.coded
        return (self.draws["severity"].where(coded).sum("rater_condition")
                / coded.sum("rater_condition")).rename("severity")

    def connected(self) -> dict[str, bool | None]:
        """Per condition: whether its raters overlap (None when not recorded)."""
        if "overlap_components" not in self.draws:
            return dict.fromkeys(self.conditions)
        return {c: bool(n <= 1) for c, n in zip(self.conditions,
                                                 self.draws["overlap_components"].values, strict=True)}

    def split_conditions(self) -> list[str]:
        """Conditions whose raters fall into groups that share no coded unit."""
        return [c for c, ok in self.connected().items() if ok is False]

    # -- tables ------------------------------------------------------------------------------
    def agreement_table(self, prob: float | None = None) -> pd.DataFrame:
        """Per condition: raters, overlap, the model's agreement (mean, sd, lower, upper), alpha."""
        stats = posterior_summary(self.draws["agreement"], prob=prob)
        coded = self.coded.sum("rater").to_series()
        frame = pd.DataFrame({
            "raters": [int(coded[c]) for c in self.conditions],
            "raters overlap": [self.connected()[c] for c in self.conditions],
            **{f"agreement {s}": stats.sel(stat=s).to_series().reindex(self.conditions).to_numpy()
               for s in ("mean", "sd", "lower", "upper")},
        }, index=pd.Index(self.conditions, name="condition"))
        if self.alpha is not None:
            alpha = self.alpha.reindex(self.conditions)
            frame["units"] = alpha["units"].to_numpy()
            frame["Krippendorff's alpha"] = alpha["alpha"].to_numpy(float)
        frame.attrs.update(ci_prob=stats.attrs.get("ci_prob"), interval=stats.attrs.get("interval"))
        return frame

    @property
    def discrimination_per_rater(self) -> bool:
        """Whether each rater has its own discrimination (``ModelSpec.rater_discrimination``)."""
        return bool(self.draws.attrs.get("discrimination_per_rater", 0))

    def overall_discrimination(self) -> xr.DataArray:
        """Each rater's geometric-mean discrimination over the conditions it coded, per draw."""
        coded = self.coded
        log = np.log(self.draws["discrimination"].where(coded))
        return np.exp(log.sum("rater_condition") / coded.sum("rater_condition")).rename("discrimination")

    def severity_table(self, prob: float | None = None) -> pd.DataFrame:
        """Per rater: its mean severity over its conditions, then per condition (long form).

        Columns ``rater``, ``condition`` (``all coded`` for the mean over them), ``mean``,
        ``sd``, ``lower``, ``upper``; a condition a rater did not code has no row. With a
        discrimination per rater, also ``discrimination`` (mean; geometric mean over the
        conditions on the ``all coded`` row) and its ``discrimination lower`` / ``upper``.
        """
        stat = ("mean", "sd", "lower", "upper")
        overall = posterior_summary(self.overall_severity(), prob=prob)
        by = posterior_summary(self.draws["severity"], prob=prob)
        slopes = self.discrimination_per_rater
        if slopes:
            overall_slope = posterior_summary(self.overall_discrimination(), prob=prob)
            by_slope = posterior_summary(self.draws["discrimination"], prob=prob)
        coded = self.coded
        rows = []

        def slope_cells(table, **where):
            if not slopes:
                return {}
            return {"discrimination": float(table.sel(stat="mean", **where)),
                    "discrimination lower": float(table.sel(stat="lower", **where)),
                    "discrimination upper": float(table.sel(stat="upper", **where))}

        for rater in self.raters:
            rows.append({"rater": rater, "condition": "all coded",
                         **{s: float(overall.sel(rater=rater, stat=s)) for s in stat},
                         **(slope_cells(overall_slope, rater=rater) if slopes else {})})
            for c in self.conditions:
                if bool(coded.sel(rater_condition=c, rater=rater)):
                    rows.append({"rater": rater, "condition": c,
                                 **{s: float(by.sel(rater=rater, rater_condition=c, stat=s)) for s in stat},
                                 **(slope_cells(by_slope, rater=rater, rater_condition=c) if slopes else {})})
        columns = ["rater", "condition", *stat]
        if slopes:
            columns += ["discrimination", "discrimination lower", "discrimination upper"]
        frame = pd.DataFrame(rows, columns=columns)
        frame.attrs.update(ci_prob=overall.attrs.get("ci_prob"), interval=overall.attrs.get("interval"))
        return frame

    # -- record --------------------------------------------------------------------------------
    def to_dict(self, prob: float | None = None) -> dict:
        """Plain-JSON summaries (``checks.json``'s ``raters``); the draws go to ``draws.nc``."""
        agreement = self.agreement_table(prob)
        severity = self.severity_table(prob)
        stat = ("mean", "sd", "lower", "upper")
        out = {
            "quantity": AGREEMENT_QUANTITY,
            "severity_scale": SEVERITY_SCALE,
            "ci_prob": agreement.attrs.get("ci_prob"),
            "interval": agreement.attrs.get("interval"),
            "agreement": {c: {s: json_scalar(agreement.at[c, f"agreement {s}"]) for s in stat}
                          for c in self.conditions},
            "severity": {r: {row["condition"]: {s: json_scalar(row[s]) for s in stat}
                             for _, row in severity[severity["rater"] == r].iterrows()}
                         for r in self.raters},
            "discrimination_per_rater": self.discrimination_per_rater,
            "overlap": {c: ok for c, ok in self.connected().items()},
            "alpha": None,
        }
        if self.discrimination_per_rater:
            out["discrimination"] = {
                r: {row["condition"]: {"mean": json_scalar(row["discrimination"]),
                                       "lower": json_scalar(row["discrimination lower"]),
                                       "upper": json_scalar(row["discrimination upper"])}
                    for _, row in severity[severity["rater"] == r].iterrows()}
                for r in self.raters}
        if self.alpha is not None:
            out["alpha"] = {str(c): {k: json_scalar(row[k]) if k != "note" else str(row[k])
                                     for k in ALPHA_COLUMNS if k in row}
                            for c, row in self.alpha.iterrows()}
        return out

    @classmethod
    def from_record(cls, record: dict | None, draws: xr.Dataset | None) -> RaterAgreement | None:
        """Rebuild from ``checks.json``'s ``raters`` and the ``raters`` group of ``draws.nc``."""
        if record is None or draws is None:
            return None
        alpha = None
        if record.get("alpha") is not None:
            alpha = pd.DataFrame.from_dict(record["alpha"], orient="index")
            alpha.index.name = "condition"
            alpha["alpha"] = alpha["alpha"].astype(float)  # null (undefined alpha) is NaN
        return cls(draws=draws, alpha=alpha)

    def __str__(self) -> str:
        table = self.agreement_table()
        lines = [f"Raters: {len(self.raters)} ({', '.join(self.raters)}); agreement per condition "
                 f"({table.attrs.get('ci_prob'):.0%} {table.attrs.get('interval')}), the model's "
                 "beside Krippendorff's alpha of the codes:"]
        for c, row in table.iterrows():
            alpha = row.get("Krippendorff's alpha")
            alpha_text = "" if alpha is None else (
                "  alpha n/a" if not math.isfinite(alpha) else f"  alpha {alpha:.3f}")
            lines.append(f"  {c:<28} {row['agreement mean']:.3f} [{row['agreement lower']:.3f}, "
                         f"{row['agreement upper']:.3f}]{alpha_text}")
        overall = posterior_summary(self.overall_severity())
        lines.append("  severity (true-score SDs, mean over the conditions coded): " + ", ".join(
            f"{r} {float(overall.sel(rater=r, stat='mean')):+.2f}" for r in self.raters))
        for c in self.split_conditions():
            lines.append(f"  raters do not overlap on {c}: their severities are compared through the prior only")
        return "\n".join(lines)


def rater_agreement(tree: xr.DataTree, survey=None) -> RaterAgreement:
    """Compute the rater check of a rater-model fit.

    Parameters
    ----------
    tree : xarray.DataTree
        A fit with the rater model (``rater_severity`` in its posterior).
    survey : data.CaseSurvey, optional
        The survey it was fitted to; with its raters' codes (``rater_codes``), Krippendorff's
        alpha of the rater-modelled conditions is computed beside the model's agreement.

    Raises
    ------
    ValueError
        When the fit has no rater model.
    """
    import importlib

    if "rater_severity" not in tree["posterior"]:
        raise ValueError("the run has no rater model (its codes were collapsed or it is wide data)")
    draws = importlib.import_module("models.raters").rater_draws(tree)  # models loads PyMC: on use
    alpha = None
    codes = getattr(survey, "rater_codes", None)
    if codes is not None:
        # data.coded's own alpha table (the one reliability.csv holds), on the codes the run kept
        from data.coded import reliability_table

        conditions = [str(c) for c in draws["rater_condition"].values]
        table = reliability_table(codes[codes["condition"].isin(conditions)], survey.codebook)
        alpha = table[[c for c in ALPHA_COLUMNS if c in table]].reindex(conditions)
    return RaterAgreement(draws=draws, alpha=alpha)


def plot_raters(result: RaterAgreement, *, prob: float | None = None):
    """Forest plot: each rater's severity, and each condition's agreement beside alpha."""
    severity = posterior_summary(result.overall_severity(), prob=prob)
    agreement = result.agreement_table(prob)
    n_rows = max(len(result.raters), len(result.conditions))
    fig = new_figure(8, 0.32 * n_rows + 1.5)
    left, right = fig.subplots(1, 2)
    y = np.arange(len(result.raters))[::-1]
    left.hlines(y, severity.sel(stat="lower").values, severity.sel(stat="upper").values,
                color="#0072B2", linewidth=2)
    left.plot(severity.sel(stat="mean").values, y, "o", color="#0072B2")
    left.set_yticks(y, [r.replace("$", r"\$") for r in result.raters])
    left.axvline(0.0, color="#999999", linewidth=1, linestyle="--")
    left.set_xlabel("severity (true-score SDs)")
    left.set_title("rater severity", fontsize=10)
    y = np.arange(len(result.conditions))[::-1]
    right.hlines(y, agreement["agreement lower"], agreement["agreement upper"], color="#D55E00",
                 linewidth=2)
    right.plot(agreement["agreement mean"], y, "o", color="#D55E00", label="rater model")
    if "Krippendorff's alpha" in agreement:
        right.plot(agreement["Krippendorff's alpha"], y, "x", color="#000000", markersize=8,
                   label="Krippendorff's alpha")
        right.legend(loc="upper center", bbox_to_anchor=(0.5, -0.3), ncol=2, fontsize=8,
                     frameon=False)  # below the axis: never over a row
    right.set_yticks(y, [c.replace("$", r"\$") for c in result.conditions])
    alpha = agreement.get("Krippendorff's alpha", pd.Series(dtype=float)).to_numpy(float)
    low = min([0.0, *alpha[np.isfinite(alpha)]])  # alpha can be negative (below chance)
    right.set_xlim(low - 0.02, 1.02)
    right.set_xlabel("agreement")
    right.set_title("agreement per condition", fontsize=10)
    for ax in (left, right):
        ax.set_ylim(-0.6, max(len(ax.get_yticks()), 1) - 0.4)
    fig.suptitle(f"Raters (mean and {severity.attrs['ci_prob']:.0%} interval)", fontsize=11)
    return fig
