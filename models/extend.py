"""A verdict, not a refusal, when sampling is merely short: extend a fit that narrowly misses a gate.

:func:`models.fit` samples through :func:`sample_until_trusted`. After each run of the
sampler the diagnostic gates (:data:`data.gates.DEFAULT_GATES`, the verdict's) are checked;
when one fails *narrowly* the sampler runs again, longer, within a stated :class:`Budget`,
and only a fit that still fails (or fails far) is left to the verdict's refusal. What was
done is recorded in the fit's ``sampling`` attribute (``summary.json``'s ``sampling`` block,
the report and the command line show it; :func:`sampling_note` puts it in words).

Narrow, and what is done about it (the defaults of :class:`Budget`):

============== ======================================= =========================================
gate           narrow miss                             extension
============== ======================================= =========================================
R-hat          <= 1.05 (the gate: <= 1.01)             twice the draws, twice the tuning
bulk/tail ESS  >= 50% of the gate (>= 200 of 400)      draws x ceil(1.2 gate / ESS) (2 or 3),
                                                       twice the tuning
divergences    <= 0.5% of the kept draws (40 of 8000)  higher target acceptance (0.9, 0.95,
                                                       0.99), twice the tuning
E-BFMI, other  never narrow                            none: more draws do not fix the geometry
============== ======================================= =========================================

ESS grows about in proportion to the draws, so an ESS of at least half its gate can be
expected to pass with the 2-3x draws the budget allows; a run far shorter than its gates
need (say 2 x 100 draws against an ESS gate of 400) is not extended but refused, as before.
A missing statistic is never narrow. The budget: at most 2 extensions, each a new run of
the sampler with a new seed (derived from the fit's); draws per chain at most 4x and tuning
steps at most 2x those asked for. In the worst case a fit of 4 x 2000 draws after 1000
tuning steps thus samples 3,000 + 6,000 + 10,000 = 19,000 iterations per chain instead of
3,000. The kept fit is the last one: its draws replace the earlier ones, which are
discarded, not pooled, so the kept fit is one run of the sampler as without extension.

Why these remedies: on the calibration design (30 alliances, 4 x 2000 draws) the fits that
failed did so with R-hat 1.010-1.014 on ``sd_alliance`` / ``sd_organisation``, which is
within the Monte Carlo noise of R-hat at those effective sample sizes; longer chains
estimate it better. Divergences are met with a smaller step size (higher target acceptance).
The other parameterisation of a group level (``ModelSpec.centered``) is not tried: it is
another model (another compiled graph, other posterior variables, a changed stored spec
that the sub-models of the dominance analysis would have to follow), and on this design
centring was measured no better (``ModelSpec`` docstring).
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np

from data.gates import DEFAULT_GATES, Gate, GateResult, check_gates

from .garbage import free_dropped

logger = logging.getLogger(__name__)

SAMPLING_ATTR = "sampling"  # the fit's root attr (JSON) holding the record
# outcomes of the record
PASSED, EXTENDED, NOT_EXTENDED, BUDGET_SPENT, OFF = (
    "passed", "passed after extension", "failed, not extended", "failed, budget spent", "not checked")
_RHAT = ("max_rhat",)
_ESS = ("min_ess_bulk", "min_ess_tail", "min_ess_bulk_per_chain", "min_ess_tail_per_chain")
_DIVERGENCES = ("divergences",)
# the statistics copied into each attempt's record
_SHOWN = ("max_rhat", "min_ess_bulk", "min_ess_tail", "divergences", "min_bfmi")


@dataclass(frozen=True)
class Budget:
    """What counts as a narrow miss, and how much more sampling a fit may spend on it.

    Attributes
    ----------
    extensions : int
        Extra runs of the sampler at most (0: never extend).
    draws_factor, tune_factor : float
        Draws per chain and tuning steps at most these multiples of those asked for.
    rhat_narrow : float
        An R-hat above its gate but at most this is a narrow miss.
    ess_narrow : float
        An ESS below its gate but at least this fraction of it is a narrow miss.
    divergences_narrow : float
        Divergences (at least one) up to this fraction of the kept draws are a narrow miss.
    target_accepts : tuple of float
        The target acceptance rates tried, in turn, against divergences.
    """

    extensions: int = 2
    draws_factor: float = 4.0
    tune_factor: float = 2.0
    rhat_narrow: float = 1.05
    ess_narrow: float = 0.5
    divergences_narrow: float = 0.005
    target_accepts: tuple[float, ...] = (0.9, 0.95, 0.99)

    def describe(self) -> str:
        """The budget in words."""
        return (f"at most {self.extensions} extension(s); draws per chain at most "
                f"{self.draws_factor:g}x and tuning at most {self.tune_factor:g}x those asked for")


DEFAULT_BUDGET = Budget()


@dataclass(frozen=True)
class Attempt:
    """The settings of one run of the sampler."""

    draws: int
    tune: int
    target_accept: float
    seed: int


@dataclass(frozen=True)
class Miss:
    """A failed gate, and whether it was missed narrowly (see :func:`classify`)."""

    result: GateResult
    narrow: bool
    bound: str  # what "narrow" means for this gate, in words

    def describe(self) -> str:
        """E.g. ``R-hat 1.012 (needs <= 1.01; narrow: <= 1.05)``."""
        g, value = self.result.gate, self.result.value
        shown = "not available" if value is None or not np.isfinite(value) else f"{value:.4g}"
        return f"{g.label} {shown} (needs {g.passes_if} {g.threshold:g}; {self.bound})"


@dataclass(frozen=True)
class Decision:
    """What to do after a run of the sampler: ``accept``, ``extend`` (to ``next``) or ``refuse``."""

    action: str
    misses: tuple[Miss, ...]
    next: Attempt | None = None
    why: str = ""


def classify(result: GateResult, *, chains: int, draws: int, budget: Budget = DEFAULT_BUDGET) -> Miss:
    """Whether the failed gate ``result`` was missed narrowly (module docstring's table)."""
    gate, value = result.gate, result.value
    if value is None or not np.isfinite(value):
        return Miss(result, False, "a missing statistic is never narrow")
    if gate.statistic in _RHAT:
        return Miss(result, value <= budget.rhat_narrow, f"narrow: <= {budget.rhat_narrow:g}")
    if gate.statistic in _ESS:
        floor = budget.ess_narrow * gate.threshold
        return Miss(result, value >= floor, f"narrow: >= {floor:g}")
    if gate.statistic in _DIVERGENCES:
        most = math.floor(budget.divergences_narrow * chains * draws)
        return Miss(result, value <= max(1, most), f"narrow: <= {max(1, most)}")
    return Miss(result, False, "never extended: more draws do not change the geometry")


def decide(results, attempts: list[Attempt], *, chains: int, budget: Budget = DEFAULT_BUDGET,
           seed: int = 0) -> Decision:
    """Accept, extend or refuse a fit whose gates gave ``results``.

    ``attempts`` are the runs so far, the first with the settings asked for, the last the
    one checked. An extension is planned only when every failed gate was missed narrowly
    and the budget allows a remedy for each: more draws (R-hat, ESS), a higher target
    acceptance (divergences), and more tuning with either.
    """
    asked, last = attempts[0], attempts[-1]
    failed = [r for r in results if not r.passed]
    if not failed:
        return Decision("accept", ())
    misses = tuple(classify(r, chains=chains, draws=last.draws, budget=budget) for r in failed)
    far = [m for m in misses if not m.narrow]
    if far:
        return Decision("refuse", misses, why="too far from the gate to extend: "
                        + "; ".join(m.describe() for m in far))
    if len(attempts) > budget.extensions:
        return Decision("refuse", misses, why=f"the budget is spent ({budget.describe()})")
    statistics = {m.result.gate.statistic for m in misses}
    draws, target_accept = last.draws, last.target_accept
    most_draws = int(budget.draws_factor * asked.draws)
    if statistics & {*_RHAT, *_ESS}:
        factor = 2
        for m in misses:
            if m.result.gate.statistic in _ESS:  # ESS grows about in proportion to the draws
                factor = max(factor, math.ceil(1.2 * m.result.gate.threshold / max(m.result.value, 1e-9)))
        draws = min(most_draws, last.draws * factor)
        if draws <= last.draws:
            return Decision("refuse", misses, why=f"the draws are at the budget's most ({most_draws} "
                            f"per chain; {budget.describe()})")
    if statistics & set(_DIVERGENCES):
        higher = [t for t in budget.target_accepts if t > last.target_accept]
        if not higher:
            return Decision("refuse", misses, why="the target acceptance is at the budget's highest "
                            f"({max(budget.target_accepts, default=last.target_accept):g})")
        target_accept = higher[0]
    tune = max(last.tune, min(int(budget.tune_factor * asked.tune), 2 * last.tune))
    step = Attempt(draws=draws, tune=tune, target_accept=target_accept,
                   seed=extension_seed(seed, len(attempts)))
    return Decision("extend", misses, next=step, why="; ".join(m.describe() for m in misses))


def extension_seed(seed: int, extension: int) -> int:
    """The sampler's seed of the ``extension``-th extension of a fit with run seed ``seed``."""
    return int(np.random.SeedSequence([int(seed), int(extension)]).generate_state(1)[0])


def gate_statistics(data, *, var_names=None) -> dict[str, float | None]:
    """The statistics the gates check: :func:`models.run.diagnostics` and the ESS per chain.

    ``data`` (a fit's DataTree) and ``var_names`` are as in :func:`models.run.diagnostics`.
    Returns its mapping with ``min_ess_bulk_per_chain`` and ``min_ess_tail_per_chain``
    added; a statistic the fit cannot give is None, and its gate fails. The verdict
    (:func:`analysis.sampling_diagnostics`) and the extension loop both use it.

    References
    ----------
    .. [1] Vehtari, A., Gelman, A., Simpson, D., Carpenter, B., & Bürkner, P.-C. (2021).
       Rank-normalization, folding, and localization: An improved R-hat for assessing
       convergence of MCMC. *Bayesian Analysis*, 16(2), 667-718.
       https://doi.org/10.1214/20-BA1221
    """
    from .run import diagnostics  # (models.run imports models.fit, which imports this module)

    stats = diagnostics(data, var_names=var_names)
    ess = ("min_ess_bulk", "min_ess_tail")
    per_chain = {f"{name}_per_chain": None if stats[name] is None else stats[name] / stats["chains"]
                 for name in ess}
    first = ("max_rhat", *ess)  # the per-chain ESS listed right after the totals
    return {**{k: stats[k] for k in first}, **per_chain,
            **{k: v for k, v in stats.items() if k not in first}}


def sample_until_trusted(sample: Callable, first: Attempt, *, chains: int,
                         budget: Budget | None = DEFAULT_BUDGET,
                         gates: tuple[Gate, ...] = DEFAULT_GATES, seed: int = 0):
    """Run ``sample(attempt)`` and extend it while the gates are missed narrowly.

    Parameters
    ----------
    sample : callable
        ``sample(Attempt) -> xarray.DataTree`` with ``posterior`` and ``sample_stats``.
    first : Attempt
        The settings asked for.
    chains : int
    budget : Budget or None
        None: sample once and do not check (the record says so).
    gates : tuple of Gate
        The gates to meet (default the verdict's).
    seed : int
        The fit's seed, from which the extensions' seeds are derived.

    Returns
    -------
    tree : xarray.DataTree
        The last run's draws.
    record : dict
        ``asked`` (the first attempt's settings), ``budget``, ``attempts`` (each with its
        settings, seconds, gate statistics, failed gates, and for the ones after the first
        ``change`` and ``why``), ``outcome`` (``passed``, ``passed after extension``,
        ``failed, not extended``, ``failed, budget spent``, or ``not checked`` without a
        budget) and ``reason`` (why it stopped when it failed).
    """
    record = {"asked": {"chains": chains, **_settings(first)},
              "budget": None if budget is None else {**asdict(budget), "text": budget.describe()},
              "gates": [g.label for g in gates], "attempts": [], "outcome": OFF, "reason": None}
    attempts = [first]
    why = None
    while True:
        current = attempts[-1]
        started = time.perf_counter()
        tree = sample(current)
        entry = {**_settings(current), "seconds": round(time.perf_counter() - started, 1)}
        if len(attempts) > 1:
            entry["change"] = _change(attempts[-2], current)
            entry["why"] = why
        record["attempts"].append(entry)
        if budget is None:
            return tree, record
        stats = gate_statistics(tree)
        decision = decide(check_gates(stats, gates), attempts, chains=chains, budget=budget, seed=seed)
        entry["diagnostics"] = {k: stats.get(k) for k in _SHOWN}
        entry["failed"] = [{"gate": m.result.gate.label, "value": m.result.value,
                            "needs": f"{m.result.gate.passes_if} {m.result.gate.threshold:g}",
                            "narrow": m.narrow} for m in decision.misses]
        if decision.action == "accept":
            record["outcome"] = PASSED if len(attempts) == 1 else EXTENDED
            return tree, record
        if decision.action == "refuse":
            record["outcome"] = NOT_EXTENDED if len(attempts) == 1 else BUDGET_SPENT
            record["reason"] = decision.why
            logger.warning("sampling: %s; the gates fail (%s)", record["outcome"], decision.why)
            return tree, record
        why = decision.why
        logger.warning("sampling missed the gates narrowly (%s): extending to %s", why,
                       _change(current, decision.next))
        attempts.append(decision.next)
        # the missed run's draws are not kept: free them before the longer run samples (at a
        # million respondents they held 2.7 GB beside the new run's; models.garbage)
        size = tree.nbytes
        del tree, stats
        free_dropped(size)


def _settings(attempt: Attempt) -> dict:
    return {"draws": attempt.draws, "tune": attempt.tune, "target_accept": attempt.target_accept,
            "seed": attempt.seed}


def _change(before: Attempt, after: Attempt) -> str:
    """E.g. ``draws 2000 -> 4000, tuning 1000 -> 2000, new seed``."""
    names = {"draws": "draws", "tune": "tuning", "target_accept": "target acceptance"}
    parts = [f"{label} {getattr(before, name):g} -> {getattr(after, name):g}"
             for name, label in names.items() if getattr(before, name) != getattr(after, name)]
    return ", ".join([*parts, "new seed"])


# -- in words ---------------------------------------------------------------------------------
def sampling_record(tree) -> dict | None:
    """The fit's sampling record (None for a fit made before it was kept)."""
    text = tree.attrs.get(SAMPLING_ATTR)
    return json.loads(text) if text else None


def sampling_note(record: dict | None) -> str | None:
    """What the sampling did, in one or two sentences (None without a record)."""
    if not record or not record.get("attempts"):
        return None
    asked = record["asked"]
    runs = record["attempts"]
    last = runs[-1]
    shape = (f"{asked['chains']} chains x {last['draws']} draws after {last['tune']} tuning steps, "
             f"target acceptance {last['target_accept']:g}")
    outcome = record.get("outcome")
    if outcome == OFF:
        return f"Sampled once ({shape}); the gates were not checked during the fit."
    if outcome == PASSED:
        return f"Sampled once ({shape}); every diagnostic gate passed, no extension needed."
    extensions = len(runs) - 1
    did = "; ".join(f"extension {i}: {r['change']}, because {r['why']}"
                    for i, r in enumerate(runs[1:], start=1))
    times = "once" if extensions == 1 else f"{extensions} times"
    budget = (record.get("budget") or {}).get("text", "")
    if outcome == EXTENDED:
        return (f"The first fit missed a diagnostic gate narrowly, so the sampling was extended "
                f"{times} within its budget ({budget}): {did}. The kept fit ({shape}) passes every gate.")
    if outcome == NOT_EXTENDED:
        return f"Sampled once ({shape}); not extended: {record.get('reason')}. The verdict is refused."
    return (f"The sampling was extended {times} ({did}), but the kept fit ({shape}) still fails: "
            f"{record.get('reason')}. The verdict is refused.")


def with_record(tree, record: dict):
    """Store ``record`` on ``tree``'s root attrs (JSON; NetCDF attrs hold no mappings)."""
    tree.attrs[SAMPLING_ATTR] = json.dumps(record, allow_nan=False, default=_jsonable)
    return tree


def _jsonable(value):
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"not JSON: {type(value).__name__}")

