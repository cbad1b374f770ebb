"""Outcome families, kept as data: which outcome scales each fits and what it needs.

The likelihood of each family is written in :mod:`models.build` (the only module that
builds PyMC graphs); this table is what specs and configs are checked against, without
PyMC. A new family is one entry here and one function there.
"""

from __future__ import annotations

from dataclasses import dataclass

from data.constants import LOGISTIC_VARIANCE


@dataclass(frozen=True)
class Family:
    """An outcome family.

    Attributes
    ----------
    name : str
        Name used in specs and configs.
    scales : tuple of str
        Codebook scale kinds (``ordinal``, ``binary``, ``count``, ``continuous``) of the
        outcomes this family fits.
    link : str
        Link of the linear predictor, for reports.
    intercept : bool
        Whether the linear predictor has an intercept (cumulative-logit models put the
        location into the cutpoints instead).
    auxiliary : str or None
        Name of the family's own parameter (``cutpoints``, ``sigma``) reported in the
        summary.
    needs_trials : bool
        Whether the number of trials must be given.
    latent_residual_variance : float or None
        Variance of the latent residual on the link scale (pi^2/3 for the logit), used to
        put variance shares on the latent scale; None for the gaussian (its ``sigma``).
    """

    name: str
    scales: tuple[str, ...]
    link: str
    intercept: bool
    auxiliary: str | None = None
    needs_trials: bool = False
    latent_residual_variance: float | None = None



FAMILIES: dict[str, Family] = {
    "ordinal": Family("ordinal", ("ordinal",), "cumulative logit", intercept=False,
                      auxiliary="cutpoints", latent_residual_variance=LOGISTIC_VARIANCE),
    "gaussian": Family("gaussian", ("continuous", "count", "ordinal"), "identity",
                       intercept=True, auxiliary="sigma"),
    "bernoulli": Family("bernoulli", ("binary",), "logit", intercept=True,
                        latent_residual_variance=LOGISTIC_VARIANCE),
    "binomial": Family("binomial", ("count",), "logit", intercept=True, needs_trials=True,
                       latent_residual_variance=LOGISTIC_VARIANCE),
}

#: Family used when a spec names none, by the outcome's scale kind (None: must be given).
DEFAULT_FAMILY: dict[str, str | None] = {
    "ordinal": "ordinal",
    "binary": "bernoulli",
    "continuous": "gaussian",
    "count": None,
}
