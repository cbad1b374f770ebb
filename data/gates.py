"""The diagnostic gates: the one home of their thresholds and of the statistics they check.

A fit is trusted when every gate passes (``statistic passes_if threshold``). Two readers use
them: the verdict (:func:`analysis.dominance_verdict` refuses one when a gate fails) and the
fit itself (:mod:`models.extend` samples longer when a gate is missed narrowly, before the
verdict is asked for). They live here, upstream of both (``models`` cannot import
``analysis``, and ``analysis`` loads PyMC only when a fit is checked);
:mod:`analysis.verdict` re-exports them. The statistics they check are computed by
:func:`models.extend.gate_statistics`.

The gates are data (:data:`DEFAULT_GATES`), one row per check, so a study can change a
threshold or add a check without touching the rules that read them.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass

import numpy as np

_COMPARISONS = {"<=": operator.le, ">=": operator.ge}


@dataclass(frozen=True)
class Gate:
    """One diagnostic check: the fit passes when ``statistic passes_if threshold``.

    ``statistic`` is a key of the diagnostics mapping (see
    :func:`models.extend.gate_statistics`; the names match ``summary.json``'s ``diagnostics``).
    """

    label: str
    statistic: str
    passes_if: str
    threshold: float
    source: str

    def check(self, value) -> bool:
        """Whether ``value`` passes; a missing or non-finite value fails."""
        if value is None or not np.isfinite(value):
            return False
        return _COMPARISONS[self.passes_if](value, self.threshold)


_VEHTARI = "Vehtari et al. (2021), doi:10.1214/20-BA1221"
DEFAULT_GATES: tuple[Gate, ...] = (
    Gate("R-hat", "max_rhat", "<=", 1.01, _VEHTARI),
    # 400 in total: 100 per chain for the usual 4 chains (Vehtari et al. 2021, sec. 4).
    Gate("bulk ESS", "min_ess_bulk", ">=", 400, _VEHTARI),
    Gate("tail ESS", "min_ess_tail", ">=", 400, _VEHTARI),
    Gate("divergences", "divergences", "<=", 0, "Betancourt (2017), arXiv:1701.02434"),
    Gate("E-BFMI", "min_bfmi", ">=", 0.3, "Betancourt (2016), arXiv:1604.00695"),
)
# Same checks with ESS per chain (for runs with other than 4 chains).
PER_CHAIN_ESS_GATES: tuple[Gate, ...] = (
    DEFAULT_GATES[0],
    Gate("bulk ESS per chain", "min_ess_bulk_per_chain", ">=", 100, _VEHTARI),
    Gate("tail ESS per chain", "min_ess_tail_per_chain", ">=", 100, _VEHTARI),
    *DEFAULT_GATES[3:],
)


@dataclass(frozen=True)
class GateResult:
    """A gate and the value it was checked against."""

    gate: Gate
    value: float | None
    passed: bool

    def __str__(self) -> str:
        """One line: label, value, threshold, ok or FAILED."""
        g = self.gate
        if self.value is None or not np.isfinite(self.value):
            shown = "not available"
        else:
            shown = f"{self.value:.4g}"
        status = "ok" if self.passed else "FAILED"
        return f"{g.label}: {shown} (needs {g.passes_if} {g.threshold:g}) {status}"


def validate_gates(gates: tuple[Gate, ...]) -> None:
    """Raise ``ValueError`` naming every gate whose comparison is not ``'<='`` or ``'>='``."""
    unknown = [g.passes_if for g in gates if g.passes_if not in _COMPARISONS]
    if unknown:
        raise ValueError(f"gate comparisons must be '<=' or '>=', got {unknown}")


def check_gates(statistics, gates: tuple[Gate, ...] = DEFAULT_GATES) -> tuple[GateResult, ...]:
    """Each gate checked against ``statistics`` (keyed as :func:`models.extend.gate_statistics`)."""
    return tuple(GateResult(g, statistics.get(g.statistic), g.check(statistics.get(g.statistic)))
                 for g in gates)

