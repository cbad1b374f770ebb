"""Default priors, one entry per kind of model term, kept as data.

Every prior is written in the dictionary form of :class:`pymc_extras.prior.Prior`
(``{"dist": ..., "kwargs": {...}}``), so that it prints, saves to TOML and JSON, and
round-trips through ``Prior.from_dict``. A user overrides a kind in the run config::

    [priors.effect]
    dist = "Normal"
    kwargs = {mu = 0, sigma = 0.5}

    [priors."group_sd.alliance"]          # one group level only
    dist = "HalfNormal"
    kwargs = {sigma = 0.5}

The defaults are weakly informative on the scale the model works on: predictors are
standardised (one unit = one SD of the condition at its own level) and the link is the
logit, so an effect of 1 multiplies the odds by e per SD. For the gaussian family the
defaults marked in :data:`OUTCOME_SCALED` are multiplied by the outcome's SD (and the
intercept is centred on its mean), as bambi does; priors a user gives are used as written.

This module imports no PyMC; :func:`prior_problems` imports ``pymc_extras`` only when
called.

References
----------
Gelman, A., Jakulin, A., Pittau, M. G. & Su, Y.-S. (2008). A weakly informative default
prior distribution for logistic and other regression models. *Annals of Applied
Statistics* 2(4), 1360-1383. doi:10.1214/08-AOAS191
"""

from __future__ import annotations

import copy

from data.codebook import GROUP_LEVELS

DEFAULT_PRIORS: dict[str, dict] = {
    # intercept of gaussian / bernoulli / binomial models (ordinal models have cutpoints)
    "intercept": {"dist": "Normal", "kwargs": {"mu": 0.0, "sigma": 2.5}},
    # effect of one SD of a condition on the linear predictor
    "effect": {"dist": "Normal", "kwargs": {"mu": 0.0, "sigma": 1.0}},
    # SD of the intercepts of a group level (network, organisation, alliance)
    "group_sd": {"dist": "HalfNormal", "kwargs": {"sigma": 1.0}},
    # SD between alliances of a varying slope
    "slope_sd": {"dist": "HalfNormal", "kwargs": {"sigma": 0.5}},
    # residual SD of the gaussian family
    "sigma": {"dist": "HalfNormal", "kwargs": {"sigma": 1.0}},
    # cutpoints of the cumulative logit (on the logit scale, then ordered)
    "cutpoints": {"dist": "Normal", "kwargs": {"mu": 0.0, "sigma": 2.5}},
    # a missing code of a condition, on the standardised scale (missing at random)
    "imputation": {"dist": "Normal", "kwargs": {"mu": 0.0, "sigma": 1.0}},
}

#: Kinds whose default ``sigma`` is multiplied by the outcome SD in the gaussian family.
OUTCOME_SCALED = frozenset({"intercept", "effect", "group_sd", "slope_sd", "sigma"})

#: Kinds that may be overridden per group level as ``"<kind>.<level>"``.
PER_LEVEL_KINDS = frozenset({"group_sd"})

#: Defaults of the shrinkage priors' options (see :mod:`models.build`).
SHRINKAGE_OPTIONS: dict[str, dict] = {
    # Piironen & Vehtari (2017): guess of the number of non-zero effects (None: a third
    # of the conditions, at least 1), and the slab's scale and degrees of freedom.
    "horseshoe": {"expected_nonzero": None, "slab_scale": 2.0, "slab_df": 4.0},
    # R2D2M2CP (pymc-extras): prior mean and SD of the share of latent variance the
    # conditions explain.
    "r2d2m2": {"r2": 0.3, "r2_std": 0.2},
}


def default_prior(kind: str) -> dict:
    """A copy of the default prior of ``kind`` (a key of :data:`DEFAULT_PRIORS`)."""
    return copy.deepcopy(DEFAULT_PRIORS[kind])


def prior_key_problems(key: str, levels=GROUP_LEVELS) -> list[str]:
    """Problems with a key of the ``priors`` table (``kind`` or ``kind.level``)."""
    kind, _, level = key.partition(".")
    if kind not in DEFAULT_PRIORS:
        return [f"priors: unknown term {key!r} (use {', '.join(DEFAULT_PRIORS)})"]
    if level and (kind not in PER_LEVEL_KINDS or level not in levels):
        return [f"priors: {key!r} is not a term (per-level keys: "
                f"{', '.join(f'{k}.{lvl}' for k in sorted(PER_LEVEL_KINDS) for lvl in levels)})"]
    return []


def prior_problems(key: str, value) -> list[str]:
    """Problems with one prior given in the ``Prior`` dictionary form."""
    if not isinstance(value, dict) or "dist" not in value:
        return [f"priors.{key}: must be a table with 'dist' (and 'kwargs'), got {value!r}"]
    unknown = set(value) - {"dist", "kwargs", "centered", "dims", "transform"}
    if unknown:
        return [f"priors.{key}: unknown key(s) {', '.join(sorted(unknown))}"]
    if "dims" in value:
        return [f"priors.{key}: 'dims' are set by the model, leave them out"]
    from pymc_extras.prior import Prior  # imported here so that specs stay PyMC-free

    try:
        Prior.from_dict(value)
    except Exception as err:  # pydantic / pymc lookup errors: report them all as text
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        return [f"priors.{key}: not a valid prior ({first})"]
    return []
