"""Outcome families, kept as data: everything that differs between families.

A :class:`Family` says what the rest of the toolkit needs to know about an outcome family,
so that no other module compares a family's name: which codebook scales it fits, whether
its response is discrete, how ``y`` is coded and scaled inside the model, its link and
latent residual variance, the readable effect quantity, the posterior predictive check it
takes, and the labels of its own priors. The likelihood of each family is written in
:mod:`models.build` (the only module that builds PyMC graphs); this table needs no PyMC, so
specs and configs are checked against it cheaply.

Who asks what
-------------
- :mod:`models.spec`: ``scales``, ``needs_trials`` (a config's family against its outcome).
- :mod:`models.design` and :mod:`models.fit`: ``discrete``, ``y_offset``,
  ``scale_categories``, ``scaled_y``, ``needs_trials`` (the outcome as the model sees it,
  and back in the codebook's codes).
- :mod:`models.build`: ``intercept``, ``auxiliary``, ``scaled_y``,
  ``latent_residual_variance`` and the family's likelihood (``LIKELIHOODS[name]``).
- :mod:`analysis`: ``latent_residual_variance`` (variance shares, R^2), ``link`` and
  ``effect`` (readable effects), ``ppc`` and :meth:`Family.categories` (predictive checks).
- :mod:`reports`: ``label``, ``prior_terms``, ``scaled_y``, ``ppc`` (the overall predictive
  figure: category bars, or density and ECDF overlays), through the ``family`` attribute a
  fit puts on ``y``.

:mod:`data.simulate` cannot import this package (data comes before models); it keeps its
own table of how each family's outcome is *drawn*, and ``tests/data/test_simulate.py``
checks that table against this one.

Adding a family
---------------
1. One :class:`Family` entry in :data:`FAMILIES` below (and in :data:`DEFAULT_FAMILY` if it
   is the natural family of a codebook scale).
2. One likelihood function in :mod:`models.build`, registered in ``LIKELIHOODS`` under the
   family's name.
3. If its ``link`` is new, its inverse in :data:`analysis.effects.INVERSE_LINKS` (the
   readable effect's response); if its ``ppc`` kind is new, a check in :mod:`analysis.ppc`.
4. Its draw in :data:`data.simulate.OUTCOME_DRAWS` (the scale it produces, the parameters
   it draws with, the random draw), so the simulator can make it; a test checks that both
   tables name the same families.
5. Tests: ``tests/models/test_families.py`` runs every family through the design, a short
   fit, its readable effects and its predictive checks; add the family's model to
   ``FIT_SPECS`` in ``tests/models/conftest.py`` (and to the tiny survey if it needs a new
   kind of outcome).
"""

from __future__ import annotations

from dataclasses import dataclass

from data.constants import LOGISTIC_VARIANCE

#: Posterior predictive check kinds: bars of category shares (discrete outcomes with few
#: values), a density / ECDF overlay with group means and variances (continuous ones), or
#: the same statistics of the success proportion y / trials (counts out of trials).
PPC_KINDS = ("categories", "density", "proportion")


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
        Link of the linear predictor (``cumulative logit``, ``logit``, ``identity``); the
        readable effects use its inverse.
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
        put variance shares on the latent scale; None for a family whose residual is its
        own parameter ``auxiliary`` (the gaussian's ``sigma``, squared).
    discrete : bool
        Whether the response is discrete (stored as integers; randomised LOO-PIT) or
        continuous (stored as floats; Pareto-smoothed LOO-PIT).
    y_offset : int
        The codebook code of the model's first value: the model sees ``code - y_offset``
        (1 for ordinal categories numbered 1..K, which PyMC counts from 0).
    scale_categories : bool
        Whether the response's values are the outcome scale's categories (ordinal: the
        design records their number, which sets the cutpoints).
    scaled_y : bool
        Whether the model sees ``y`` standardised by its sample mean and SD (then the
        default priors of :data:`models.priors.OUTCOME_SCALED` are multiplied by the
        outcome's SD, and reports say so).
    n_values : int or None
        Number of values the response takes when the family fixes it (2 for bernoulli);
        an ordinal outcome's comes from its codebook scale.
    effect : str
        The readable effect's quantity (``{top}`` is the category of ``P(y >= top)``).
    ppc : str
        Posterior predictive check it takes, one of :data:`PPC_KINDS`.
    prior_terms : tuple of str
        Prior kinds (:data:`models.priors.DEFAULT_PRIORS`) of the family's own terms,
        besides the effects and group SDs every family has.
    label : str
        Name shown in reports (with the link where the name does not say it).
    """

    name: str
    scales: tuple[str, ...]
    link: str
    intercept: bool
    auxiliary: str | None = None
    needs_trials: bool = False
    latent_residual_variance: float | None = None
    discrete: bool = True
    y_offset: int = 0
    scale_categories: bool = False
    scaled_y: bool = False
    n_values: int | None = None
    effect: str = "mean of y"
    ppc: str = "categories"
    prior_terms: tuple[str, ...] = ("intercept",)
    label: str = ""

    def __post_init__(self):
        if self.ppc not in PPC_KINDS:
            raise ValueError(f"family {self.name!r}: ppc must be one of {PPC_KINDS}, got {self.ppc!r}")
        if not self.label:
            object.__setattr__(self, "label", self.name)

    def categories(self, n_categories: int | None = None) -> list[int] | None:
        """The response's values in the codebook's codes, when a category check can list them.

        ``n_categories`` is the outcome's number of categories (an ordinal scale's); None
        when the family's check is not a category one or its number of values is not
        known (the check then uses the values seen).
        """
        if self.ppc != "categories":
            return None
        n = n_categories or self.n_values
        return list(range(self.y_offset, self.y_offset + n)) if n else None

    def residual_sd(self, posterior):
        """The family's residual SD draws from ``posterior`` (gaussian: ``sigma``), or None
        when its latent residual variance is fixed.
        """
        return posterior[self.auxiliary] if self.latent_residual_variance is None else None

    def residual_variance(self, auxiliary=None):
        """Latent residual variance: the fixed one, or the family's own SD (``auxiliary``) squared."""
        if self.latent_residual_variance is not None:
            return self.latent_residual_variance
        if auxiliary is None:
            raise ValueError(f"the {self.name} family needs the residual sd `{self.auxiliary}`")
        return auxiliary**2


FAMILIES: dict[str, Family] = {
    "ordinal": Family("ordinal", ("ordinal",), "cumulative logit", intercept=False,
                      auxiliary="cutpoints", latent_residual_variance=LOGISTIC_VARIANCE,
                      y_offset=1, scale_categories=True, effect="P(y >= {top})", prior_terms=("cutpoints",),
                      label="ordinal (cumulative logit)"),
    "gaussian": Family("gaussian", ("continuous", "count", "ordinal"), "identity",
                       intercept=True, auxiliary="sigma", discrete=False, scaled_y=True,
                       effect="mean of y", ppc="density", prior_terms=("intercept", "sigma")),
    "bernoulli": Family("bernoulli", ("binary",), "logit", intercept=True,
                        latent_residual_variance=LOGISTIC_VARIANCE, n_values=2,
                        effect="P(y = 1)"),
    "binomial": Family("binomial", ("count",), "logit", intercept=True, needs_trials=True,
                       latent_residual_variance=LOGISTIC_VARIANCE, effect="P(success)",
                       ppc="proportion"),
}

#: Family used when a spec names none, by the outcome's scale kind (None: must be given).
DEFAULT_FAMILY: dict[str, str | None] = {
    "ordinal": "ordinal",
    "binary": "bernoulli",
    "continuous": "gaussian",
    "count": None,
}


def get_family(name: str) -> Family:
    """The :class:`Family` called ``name`` (as a spec, config or a fit's ``attrs`` names it)."""
    try:
        return FAMILIES[str(name)]
    except KeyError:
        raise ValueError(f"unknown family {name!r}; use one of {', '.join(FAMILIES)}") from None


def family_of(tree) -> Family:
    """The family of a fit (:func:`models.fit`), a run's tree or a sub-model's, from its attrs.

    A tree without the attribute is ordinal (runs written before the attribute existed).
    """
    return get_family(tree.attrs.get("family", "ordinal"))
