"""The dominance verdict: does the interpersonal side explain more than the other side.

Decision rule (DESIGN.md §4.2). Per posterior draw, ``d = share_interpersonal -
share_interorganisational``. With a region of practical equivalence ``rope`` around equal
shares and a probability threshold ``prob_threshold``:

0. if a side has no condition in the model: ``not applicable`` (with its reason), since
   there is nothing to compare; no probability is computed;
1. if any diagnostic gate fails (or its statistic is missing): ``not trustworthy``, whatever
   the shares say;
2. else if ``P(d > rope) >= prob_threshold``: ``interpersonal dominates``;
3. else if ``P(d < -rope) >= prob_threshold``: ``interorganisational dominates``;
4. else ``inconclusive``.

``P(|d| <= rope)`` (practical equivalence) is reported as its own probability; the three
probabilities P(d > rope), P(|d| <= rope), P(d < -rope) sum to one. ``P(d > 0)`` is reported
too. ``prob_threshold`` must exceed 0.5 so that at most one side can dominate.

When the Pratt shares of the fixed part are used (they sum to one), ``d = 2 s_I - 1``, so
the default ``rope=0.05`` is an interpersonal share within 0.475..0.525.

The gates are data (:data:`DEFAULT_GATES`), one row per check, so a study can change a
threshold or add a check without touching the rule. Their home is :mod:`data.gates`
(the fit reads them too: :mod:`models.extend` samples longer when one is missed narrowly).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field

import xarray as xr

from data.codebook import SIDES
from data.constants import SAMPLE_DIMS

# the gates' one home is data.gates (the fit reads them too); re-exported here
from data.gates import DEFAULT_GATES, PER_CHAIN_ESS_GATES, Gate, GateResult, check_gates, validate_gates

logger = logging.getLogger(__name__)

INTERPERSONAL, INTERORGANISATIONAL = SIDES
VERDICTS = (
    "interpersonal dominates",
    "interorganisational dominates",
    "inconclusive",
    "not trustworthy",
    "not applicable",
)
NOT_APPLICABLE = "not applicable"
__all__ = ["DEFAULT_GATES", "INTERORGANISATIONAL", "INTERPERSONAL", "NOT_APPLICABLE",
           "PER_CHAIN_ESS_GATES", "VERDICTS", "DominanceVerdict", "Gate", "GateResult",
           "dominance_verdict", "sampling_diagnostics"]


def sampling_diagnostics(data: xr.DataTree, *, var_names=None) -> dict[str, float | None]:
    """The statistics the gates check (:func:`models.extend.gate_statistics`).

    ``data`` and ``var_names`` are as in :func:`models.diagnostics`: its mapping with
    ``min_ess_bulk_per_chain`` and ``min_ess_tail_per_chain`` added; a statistic the fit
    cannot give is None, and its gate fails.
    """
    from models.extend import gate_statistics  # PyMC is loaded only when a fit is checked

    return gate_statistics(data, var_names=var_names)


@dataclass(frozen=True)
class DominanceVerdict:
    """The verdict, the probabilities behind it and the gates it passed or failed.

    A ``not applicable`` verdict (one side without conditions) has no probabilities (None)
    and no difference; ``reason`` says why.
    """

    verdict: str
    p_interpersonal_greater: float | None
    p_interpersonal_dominates: float | None
    p_interorganisational_dominates: float | None
    p_equivalent: float | None
    rope: float
    prob_threshold: float
    gates: tuple[GateResult, ...]
    difference: xr.DataArray | None = field(default=None, repr=False, compare=False)
    reason: str | None = None

    @property
    def applicable(self) -> bool:
        """Whether both sides have conditions, so that the sides can be compared."""
        return self.verdict != NOT_APPLICABLE

    def headline(self) -> str:
        """One line: the verdict and the probability it rests on (or why there is none)."""
        if not self.applicable:
            return f"{self.verdict}: {self.reason}"
        rope = f"{self.rope:g}"
        if self.verdict == "interorganisational dominates":
            shown = f"P(d < -{rope}) = {self.p_interorganisational_dominates:.3f}"
        elif self.verdict == "interpersonal dominates":
            shown = f"P(d > {rope}) = {self.p_interpersonal_dominates:.3f}"
        else:
            shown = (f"P(d > {rope}) = {self.p_interpersonal_dominates:.3f}, "
                     f"P(d < -{rope}) = {self.p_interorganisational_dominates:.3f}")
        return f"{self.verdict} ({shown}; a verdict needs >= {self.prob_threshold:g})"

    @property
    def trustworthy(self) -> bool:
        """Whether every diagnostic gate passed."""
        return all(g.passed for g in self.gates)

    def to_dict(self) -> dict:
        """Plain-JSON form (for ``checks.json``)."""
        return {
            "verdict": self.verdict,
            "trustworthy": self.trustworthy,
            "p_interpersonal_greater": self.p_interpersonal_greater,
            "p_interpersonal_dominates": self.p_interpersonal_dominates,
            "p_interorganisational_dominates": self.p_interorganisational_dominates,
            "p_equivalent": self.p_equivalent,
            "rope": self.rope,
            "prob_threshold": self.prob_threshold,
            "reason": self.reason,
            "gates": [
                {
                    "label": r.gate.label,
                    "statistic": r.gate.statistic,
                    "passes_if": r.gate.passes_if,
                    "threshold": r.gate.threshold,
                    "value": r.value,
                    "passed": r.passed,
                    "source": r.gate.source,
                }
                for r in self.gates
            ],
        }

    def __str__(self) -> str:
        """Short readable report: verdict, probabilities, gates."""
        if not self.applicable:
            return "\n".join([f"Verdict: {self.verdict}", f"  {self.reason}", "Diagnostics:",
                              *(f"  {r}" for r in self.gates)])
        d = f"d = interpersonal - interorganisational share, rope {self.rope:g}"
        lines = [
            f"Verdict: {self.verdict}",
            f"  P(d > 0)         = {self.p_interpersonal_greater:.3f}   ({d})",
            f"  P(d > rope)      = {self.p_interpersonal_dominates:.3f}",
            f"  P(|d| <= rope)   = {self.p_equivalent:.3f}   (practical equivalence)",
            f"  P(d < -rope)     = {self.p_interorganisational_dominates:.3f}",
            f"  dominance needs a probability >= {self.prob_threshold:g}",
            "Diagnostics:",
            *(f"  {r}" for r in self.gates),
        ]
        if not self.trustworthy:
            lines.append("  A failed gate refuses the verdict: refit (more tuning/draws) first.")
        return "\n".join(lines)


def dominance_verdict(
    shares,
    diagnostics,
    *,
    rope: float = 0.05,
    prob_threshold: float = 0.95,
    gates: tuple[Gate, ...] = DEFAULT_GATES,
    sides: Mapping[str, int] | None = None,
) -> DominanceVerdict:
    """Decide whether the interpersonal or the interorganisational side dominates.

    The rule is in this module's docstring: any failed gate gives ``not trustworthy``;
    otherwise a side dominates when P(its share exceeds the other's by more than ``rope``)
    is at least ``prob_threshold``; otherwise ``inconclusive``.

    Parameters
    ----------
    shares : xarray.DataArray or xarray.Dataset
        Side shares per draw, dims (chain, draw, side), with both sides. A Dataset from
        :func:`analysis.decomposition.variance_decomposition` gives its ``side_share``
        (Pratt shares of the fixed part); pass ``ds["side_share_of_total"]`` to decide on
        the decomposition that includes group variances.
    diagnostics : mapping or xarray.DataTree
        The statistics the gates check (keys as in :func:`sampling_diagnostics`), or the
        fit's DataTree, from which they are computed.
    rope : float, default 0.05
        Half-width of the region of practical equivalence around ``d = 0``.
    prob_threshold : float, default 0.95
        Posterior probability needed for a dominance verdict; must be in (0.5, 1].
    gates : tuple of Gate, default DEFAULT_GATES
        The diagnostic checks.
    sides : mapping of str to int, optional
        Number of conditions of each side in the model. A side with none gives the verdict
        ``not applicable`` (DESIGN.md §4.2) with its reason and no probabilities. Default:
        a side whose share is exactly zero in every draw has none (the decomposition gives
        a side without terms share zero).

    Returns
    -------
    DominanceVerdict
        Its ``str`` is a short readable report.

    References
    ----------
    .. [1] Kruschke, J. K. (2018). Rejecting or accepting parameter values in Bayesian
       estimation. *Advances in Methods and Practices in Psychological Science*, 1(2),
       270-280. https://doi.org/10.1177/2515245918771304
    .. [2] Vehtari, A., Gelman, A., Simpson, D., Carpenter, B., & Bürkner, P.-C. (2021).
       Rank-normalization, folding, and localization: An improved R-hat for assessing
       convergence of MCMC. *Bayesian Analysis*, 16(2), 667-718.
       https://doi.org/10.1214/20-BA1221
    """
    if not rope >= 0:
        raise ValueError(f"rope must be >= 0, got {rope}")
    if not 0.5 < prob_threshold <= 1:
        raise ValueError(f"prob_threshold must be in (0.5, 1], got {prob_threshold}")
    validate_gates(gates)
    if isinstance(shares, xr.Dataset):
        shares = shares["side_share"]
    missing = [d for d in (*SAMPLE_DIMS, "side") if d not in shares.dims]
    if missing:
        raise ValueError(f"shares lacks dim(s) {missing}; it has {list(shares.dims)}")
    absent = [s for s in SIDES if s not in shares["side"].values]
    if absent:
        raise ValueError(f"shares has no side {absent}")

    if isinstance(diagnostics, xr.DataTree):
        diagnostics = sampling_diagnostics(diagnostics)
    if not isinstance(diagnostics, Mapping):
        raise TypeError("diagnostics must be a mapping of statistics or a DataTree")
    results = check_gates(diagnostics, gates)

    if sides is None:
        sides = {s: int(bool((shares.sel(side=s) != 0).any())) for s in SIDES}
    empty = [s for s in SIDES if not sides.get(s)]
    if empty:
        reason = (f"the model has no {' and no '.join(empty)} condition, so the sides cannot be "
                  "compared; add conditions of "
                  f"{'that side' if len(empty) == 1 else 'both sides'} to the codebook and the data "
                  "to test dominance")
        logger.info("verdict not applicable: %s", reason)
        return DominanceVerdict(
            verdict=NOT_APPLICABLE, p_interpersonal_greater=None, p_interpersonal_dominates=None,
            p_interorganisational_dominates=None, p_equivalent=None, rope=rope,
            prob_threshold=prob_threshold, gates=results, difference=None, reason=reason)

    if int(shares.isnull().sum()):  # (a side without conditions needs no shares: checked first)
        raise ValueError("shares holds missing values")
    difference = shares.sel(side=INTERPERSONAL) - shares.sel(side=INTERORGANISATIONAL)
    difference.name = "share_difference"

    def prob(event: xr.DataArray) -> float:
        return float(event.mean())

    p_up = prob(difference > rope)
    p_down = prob(difference < -rope)
    if not all(r.passed for r in results):
        verdict = "not trustworthy"
        failed = ", ".join(r.gate.label for r in results if not r.passed)
        logger.warning("verdict refused: diagnostic gate(s) failed: %s", failed)
    elif p_up >= prob_threshold:
        verdict = "interpersonal dominates"
    elif p_down >= prob_threshold:
        verdict = "interorganisational dominates"
    else:
        verdict = "inconclusive"
    return DominanceVerdict(
        verdict=verdict,
        p_interpersonal_greater=prob(difference > 0),
        p_interpersonal_dominates=p_up,
        p_interorganisational_dominates=p_down,
        p_equivalent=prob(abs(difference) <= rope),
        rope=rope,
        prob_threshold=prob_threshold,
        gates=results,
        difference=difference,
    )
