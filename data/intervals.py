"""The one interval convention of every table: ArviZ's ``stats.ci_kind`` and ``stats.ci_prob``.

summary.json, checks.json, the report and the command line all summarise draws with
:func:`credible_interval` and name the interval with :func:`interval_label`, so one setting
(``arviz_base.rcParams``; ArviZ 1.x's default: the 89% equal-tailed interval) decides them all.
"""

from __future__ import annotations

import arviz_base
import xarray as xr

_KINDS = {"eti": "equal-tailed interval (ETI)", "hdi": "highest-density interval (HDI)"}


def interval_setting(prob: float | None = None, kind: str | None = None) -> tuple[float, str]:
    """Return ``(prob, kind)``: the arguments given, else ArviZ's ``stats.ci_prob`` / ``stats.ci_kind``."""
    prob = float(arviz_base.rcParams["stats.ci_prob"] if prob is None else prob)
    kind = str(arviz_base.rcParams["stats.ci_kind"] if kind is None else kind)
    if kind not in _KINDS:
        raise ValueError(f"interval kind must be one of {sorted(_KINDS)}, got {kind!r}")
    return prob, kind


def interval_name(kind: str | None = None) -> str:
    """Name the interval's kind, e.g. ``equal-tailed interval (ETI)``."""
    return _KINDS[interval_setting(None, kind)[1]]


def interval_label(prob: float | None = None, kind: str | None = None) -> str:
    """Name the interval with its probability, e.g. ``89% equal-tailed interval (ETI)``."""
    prob, kind = interval_setting(prob, kind)
    return f"{prob:.0%} {_KINDS[kind]}"


def credible_interval(draws, *, dim, prob: float | None = None, kind: str | None = None):
    """Return the interval of ``draws`` over ``dim``, with a ``ci_bound`` (lower, upper) dim."""
    import arviz_stats as azs  # loaded on first use: data is imported by everything

    prob, kind = interval_setting(prob, kind)
    compute = azs.eti if kind == "eti" else azs.hdi
    if isinstance(draws, (xr.DataArray, xr.Dataset)):
        return compute(draws, prob=prob, dim=list(dim))
    raise TypeError("draws must be an xarray DataArray or Dataset")
