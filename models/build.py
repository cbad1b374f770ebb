"""The PyMC graph of the hierarchical learning model (the only module that builds one).

For individual i in network j, organisation o and alliance a::

    eta_i = X_i b_ind + Z_j b_net + W_o b_org + V_a b_all + u_j + v_o + w_a
            (+ sum_k x_ik s_ka  for slopes varying by alliance)

with standardised conditions, group intercepts ``u_<level>`` (non-centred unless the
spec centres the level; a non-centred level's SD is sampled signed, see
:mod:`models.scales`) and one latent value per missing condition code at the
condition's own level. The outcome ``y`` follows the spec's family: cumulative logit
with ordered ``cutpoints`` (the fused Op of :mod:`models.ordinal`, which takes eta's parts,
:class:`LinearPredictor`, rather than eta), gaussian, Bernoulli-logit or binomial-logit.

Every array of the :class:`~models.design.ModelDesign` sits in a ``pm.Data`` container named as
in :meth:`ModelDesign.data`, so a compiled model refits on new data of the same structure
without recompiling. The effects enter eta as ``b * condition_mask``: a sub-model that
leaves conditions out (their mask is 0) is the same graph with other data. Variable
names: ``b`` (dim ``condition``), ``intercept``,
``cutpoints`` (``cutpoint``), ``sigma``, ``sd_<level>``, ``u_<level>`` (``<level>``),
``sd_slope`` / ``slope`` (``alliance`` x ``slope_condition``), ``x_missing_<level>``
(``<level>_missing``), and the observed ``y`` (``individual``). With the rater model
(:mod:`models.raters`) the rater-coded conditions' true scores are ``x_missing_<level>``
values too, measured by the codes through ``rater_cutpoints`` (``rater_condition`` x
``rater_cutpoint``), ``rater_discrimination`` (``rater_condition``), ``rater_severity_z``
(``rater_severity_free``) and ``rater_severity`` (``rater_condition`` x ``rater``), the codes entering
as the potential ``rater_codes``. The level contributions
``c_L`` are not stored per draw (they would be draws x individuals); they are rebuilt by
:func:`models.contributions` from the posterior and the stored design.

References
----------
Piironen, J. & Vehtari, A. (2017). Sparsity information and regularization in the
horseshoe and other shrinkage priors. *Electronic Journal of Statistics* 11(2),
5018-5051. doi:10.1214/17-EJS1337SI

Aguilar, J. E. & Bürkner, P.-C. (2023). Intuitive joint priors for Bayesian linear
multilevel models: the R2D2M2 prior. *Electronic Journal of Statistics* 17(1),
1711-1767. doi:10.1214/23-EJS2136
"""

from __future__ import annotations

import functools
import importlib.util
import sys
from dataclasses import dataclass

import numpy as np
import pymc as pm
import pytensor.tensor as pt

from .design import ModelDesign, make_design
from .ordinal import cumulative_logit_logp_op, linear_predictor
from .priors import OUTCOME_SCALED
from .raters import RATER_PRIORS
from .scales import signed_prior
from .spec import ModelSpec


def _defer_pymc_extras_init() -> None:
    """Let ``pymc_extras.prior`` be imported without running ``pymc_extras/__init__`` first.

    The package's ``__init__`` imports its statespace, inference, marginal and gp modules
    (and with them arviz and arviz_plots): about 1.2 s of CPU, 40% of the imports of a `fit`
    command, none of which a fit uses; :class:`~pymc_extras.prior.Prior` needs only
    ``pymc_extras.deserialize``. So the package is registered without running its
    ``__init__``, which then runs in full on the first use of any other name of the
    package (``pymc_extras.fit_laplace``, ``from pymc_extras import marginal``, ...).
    Submodule imports (``pymc_extras.distributions``) work either way.
    """
    if "pymc_extras" in sys.modules:
        return
    spec = importlib.util.find_spec("pymc_extras")
    if spec is None or spec.loader is None or not spec.submodule_search_locations:
        return  # not installed as a regular package: import it the ordinary way
    package = importlib.util.module_from_spec(spec)

    def __getattr__(name: str):
        # PEP 562: called only for names the package does not have yet
        if name.startswith("__") and name not in ("__version__", "__all__"):
            raise AttributeError(name)
        del package.__getattr__
        spec.loader.exec_module(package)  # the real __init__, once
        return getattr(package, name)

    package.__getattr__ = __getattr__
    sys.modules["pymc_extras"] = package


_defer_pymc_extras_init()
from pymc_extras.prior import Prior  # noqa: E402  (after the deferral above)

# Pseudo residual SD of the logit link for the horseshoe's global scale
# (Piironen & Vehtari 2017, sec. 3.2: sigma^2 = 1 / (mu (1 - mu)) at mu = 1/2).
_LOGIT_PSEUDO_SIGMA = 2.0


def build_model(spec: ModelSpec, survey, design: ModelDesign | None = None) -> pm.Model:
    """Build the PyMC model of ``spec`` on ``survey``.

    Parameters
    ----------
    spec : ModelSpec
        Checked against the survey here (see :func:`models.check_spec`).
    survey : data.CaseSurvey
    design : ModelDesign, optional
        A design already made from ``spec`` and ``survey`` (saves recomputing it).

    Returns
    -------
    pymc.Model
        With named dims (``individual``, ``condition``, ``network``, ``organisation``,
        ``alliance``, ``cutpoint``, ``<level>_condition``, ``<level>_missing``, ...).
    """
    design = design if design is not None else make_design(spec, survey)
    return model_from_design(design)


def model_from_design(design: ModelDesign, likelihood=None) -> pm.Model:
    """Build the PyMC model from a :class:`ModelDesign` (see :func:`build_model`).

    ``likelihood``, if given, replaces the family's likelihood term: a function of
    ``(design, data, predictor, spec, scale)`` as in :data:`LIKELIHOODS` (for instance
    :func:`models.sufficient.gaussian_potential`, the same posterior for sampling).
    """
    if design.macro is not None:  # an alliance-level outcome (models.macro)
        from .macro import model_from_design as macro_model

        return macro_model(design)
    spec = design.spec
    coords = {**design.coords, "table_level": list(design.table_levels)}  # idx_table's columns
    with pm.Model(coords=coords) as model:
        data = {name: pm.Data(name, value, dims=_data_dims(name, design))
                for name, value in design.data().items()}
        scale = _OutcomeScale(design, data)

        X_full, latent = _conditions_with_imputation(design, data, spec)
        if design.raters is not None:
            _rater_measurement(design, data, latent)
        b = _effects(design, data, spec, scale)
        predictor = _linear_predictor(design, data, X_full, b, spec, scale)
        (likelihood or _likelihood)(design, data, predictor, spec, scale)
    return model


# -- data ------------------------------------------------------------------------------
def _data_dims(name: str, design: ModelDesign):
    if name == "idx_table":
        return ("individual", "table_level")
    if name == "condition_mask":
        return ("condition",)
    if name in ("y_observed", "trials") or name.startswith("idx_"):
        return ("individual",)
    if name.startswith("X_"):
        level = name[2:]
        return (level, f"{level}_condition")
    if name.startswith("missing_"):
        level = name.split("_", 2)[2]
        return (f"{level}_missing",)
    return None


class _OutcomeScale:
    """Rescales default priors to the outcome's scale (gaussian family only)."""

    def __init__(self, design: ModelDesign, data: dict):
        self.gaussian = design.family.name == "gaussian"
        self.location = data.get("outcome_location")
        self.spread = data.get("outcome_scale")

    def prior(self, spec: ModelSpec, kind: str, level: str | None = None, dims=None) -> Prior:
        raw, is_default = spec.prior(kind, level)
        if dims is not None:
            raw["dims"] = dims
        prior = Prior.from_dict(raw)
        if self.gaussian and is_default and kind in OUTCOME_SCALED:
            # Defaults are written for a unit-scale outcome; data containers keep this
            # rescaling valid when the model is refitted on new data.
            prior.parameters["sigma"] = prior.parameters["sigma"] * self.spread
            if kind == "intercept":
                prior.parameters["mu"] = prior.parameters["mu"] + self.location
        return prior


def _conditions_with_imputation(design: ModelDesign, data: dict, spec: ModelSpec) -> dict:
    """Each level's standardised conditions, with latent values at the missing codes.

    Returns the matrices and the latent vectors (``x_missing_<level>``) by level.
    """
    full, latents = {}, {}
    for level in design.level_conditions:
        matrix = data[f"X_{level}"]
        if len(design.missing[level][0]):
            raw, _ = spec.prior("imputation")
            raw["dims"] = (f"{level}_missing",)
            latent = Prior.from_dict(raw).create_variable(f"x_missing_{level}")
            latents[level] = latent
            matrix = pt.set_subtensor(
                matrix[data[f"missing_row_{level}"], data[f"missing_col_{level}"]], latent)
        full[level] = matrix
    return full, latents


def _rater_measurement(design: ModelDesign, data: dict, latents: dict) -> None:
    """The raters' codes as cumulative-logit observations of the latent true scores.

    See :mod:`models.raters`: ``P(code <= k) = logistic(kappa_ck - lambda_c (T - s_cr))``,
    with ``spec.rater_discrimination`` each rater's codes are ``a_cr`` times as sharp:
    ``logistic(a_cr (kappa_ck - lambda_c (T - s_cr)))``.
    The codes enter as a potential, so that the model's observed variable (and its
    pointwise log-likelihood, hence LOO) stays the outcome.
    """
    raters = design.raters
    true = pt.concatenate([latents[level] for level in raters.latent_levels])
    priors = RATER_PRIORS
    cut_prior = priors["rater_cutpoints"]["kwargs"]
    cutpoints = pm.Normal("rater_cutpoints", mu=cut_prior["mu"], sigma=cut_prior["sigma"],
                          dims=("rater_condition", "rater_cutpoint"),
                          transform=pm.distributions.transforms.ordered)
    discrimination = pm.HalfNormal("rater_discrimination",
                                   sigma=priors["rater_discrimination"]["kwargs"]["sigma"],
                                   dims="rater_condition")
    # sum-to-zero within each condition over the raters who coded it: n - 1 free N(0, 1)
    # coordinates per condition, mapped by a fixed basis (RaterDesign.severity_basis)
    sigma = priors["rater_severity"]["kwargs"]["sigma"]
    z = pm.Normal("rater_severity_z", 0.0, 1.0, dims="rater_severity_free")
    pair_condition = data["rater_pair_condition"]
    n_conditions = len(raters.conditions)
    pair_severity = sigma * pt.dot(data["rater_basis"], z)
    matrix = pt.zeros((n_conditions, len(raters.raters)))
    matrix = pt.set_subtensor(matrix[pair_condition, data["rater_pair_rater"]], pair_severity)
    pm.Deterministic("rater_severity", matrix, dims=("rater_condition", "rater"))

    condition = data["rater_condition_index"]
    slope = discrimination[condition]
    flat = cutpoints.flatten()
    upper, lower = flat[data["rater_upper"]], flat[data["rater_lower"]]
    if design.spec.rater_discrimination:
        # a discrimination per rater and condition: the rater's codes are a_cr times as sharp,
        # P(code <= k) = logistic(a_cr (kappa_ck - lambda_c (T - s_cr))), so its slope on the
        # true score is lambda_c a_cr; log a_cr sums to zero over the condition's raters (the
        # severities' basis): lambda_c stays the raters' geometric mean, identified
        log_sigma = priors["rater_log_discrimination"]["kwargs"]["sigma"]
        z_log = pm.Normal("rater_log_discrimination_z", 0.0, 1.0, dims="rater_severity_free")
        sharpness = pt.exp(log_sigma * pt.dot(data["rater_basis"], z_log))
        pm.Deterministic("rater_slope", pt.set_subtensor(
            pt.zeros((n_conditions, len(raters.raters)))[pair_condition, data["rater_pair_rater"]],
            discrimination[pair_condition] * sharpness), dims=("rater_condition", "rater"))
        code_sharpness = sharpness[data["rater_pair_index"]]
        slope = slope * code_sharpness
        upper, lower = code_sharpness * upper, code_sharpness * lower
    eta = slope * (true[data["rater_true"]] - pair_severity[data["rater_pair_index"]])
    bottom, top = pt.gt(data["rater_bottom"], 0), pt.gt(data["rater_top"], 0)
    # log P(code = k) = log sigmoid(c_k - eta) + log sigmoid(eta - c_{k-1}) + log(1 - exp(c_{k-1} - c_k))
    # (terms absent at the bottom and top categories; placeholders keep gradients finite)
    logp = (pt.switch(top, 0.0, -pt.softplus(eta - upper))
            + pt.switch(bottom, 0.0, -pt.softplus(lower - eta))
            + pt.switch(top | bottom, 0.0, pt.log1mexp(pt.switch(top | bottom, -1.0, lower - upper))))
    pm.Potential("rater_codes", logp.sum())


# -- linear predictor ----------------------------------------------------------------------
@dataclass(frozen=True)
class LinearPredictor:
    """The parts of eta: ``offset + X @ b + sum_l table[idx[:, l]]`` (see models.ordinal).

    ``X`` and ``b`` are the individual-level conditions and effects, ``table`` every group
    level's values (its conditions' part plus its group intercepts), one level after the
    other, and ``idx`` each individual's positions in it; ``offset`` holds the intercept
    and the varying slopes' part.
    """

    X: pt.TensorVariable
    b: pt.TensorVariable
    table: pt.TensorVariable
    idx: pt.TensorVariable
    offset: pt.TensorVariable

    @property
    def parts(self) -> tuple:
        """The arguments of :func:`linear_predictor`, in its order."""
        return self.X, self.b, self.table, self.idx, self.offset

    @property
    def eta(self):
        """The linear predictor as a PyTensor expression."""
        return linear_predictor(*self.parts)


def _linear_predictor(design: ModelDesign, data: dict, X_full: dict, b, spec: ModelSpec,
                      scale: _OutcomeScale) -> LinearPredictor:
    n = data["y_observed"].shape[0]
    offset = pt.zeros((1,))  # one value for every row (models.ordinal), until slopes add theirs
    if design.family.intercept:
        offset = offset + scale.prior(spec, "intercept").create_variable("intercept")
    if design.conditions:
        # 0 for a condition left out of a sub-model: same graph, other data
        b = b * data["condition_mask"]
    position = {name: i for i, name in enumerate(design.conditions)}

    def effects(level):
        return b[np.array([position[n] for n in design.level_conditions[level]])]

    X, b_individual = pt.zeros((n, 0)), pt.zeros((0,))
    group_values = {}
    for level in design.level_conditions:
        if level == "individual":
            X, b_individual = X_full[level], effects(level)
        else:
            group_values[level] = pt.dot(X_full[level], effects(level))
    for level in spec.group_effects:
        u = _group_intercepts(level, spec, scale)
        group_values[level] = group_values[level] + u if level in group_values else u
    if spec.varying_slopes:
        offset = offset + _varying_slopes(design, data, X_full, spec, scale)

    levels = design.table_levels  # the order of the table's rows in data["idx_table"]
    if not levels:
        return LinearPredictor(X, b_individual, pt.zeros((0,)), pt.zeros((n, 0), dtype="int64"), offset)
    table = pt.concatenate([group_values[level] for level in levels])
    return LinearPredictor(X, b_individual, table, data["idx_table"], offset)


# -- effects -----------------------------------------------------------------------------
def _effects(design: ModelDesign, data: dict, spec: ModelSpec, scale: _OutcomeScale):
    if not design.conditions:
        return pt.zeros((0,))
    if spec.shrinkage == "horseshoe":
        return _regularised_horseshoe(design, data, spec, scale)
    if spec.shrinkage == "r2d2m2":
        return _r2d2m2(design, data, spec)
    return scale.prior(spec, "effect", dims=("condition",)).create_variable("b")


def _regularised_horseshoe(design: ModelDesign, data: dict, spec: ModelSpec, scale: _OutcomeScale):
    """Regularised horseshoe (Piironen & Vehtari 2017), non-centred."""
    options = spec.options()
    n_conditions = len(design.conditions)
    guess = options["expected_nonzero"] or max(1, round(n_conditions / 3))
    guess = min(guess, n_conditions - 0.5)
    if design.family.name == "gaussian":
        pseudo_sigma = _sigma(spec, scale)
    else:
        pseudo_sigma = _LOGIT_PSEUDO_SIGMA
    n_obs = data["y_observed"].shape[0]
    tau0 = guess / (n_conditions - guess) * pseudo_sigma / pt.sqrt(n_obs)
    tau = pm.HalfStudentT("hs_tau", nu=1, sigma=tau0)
    lam = pm.HalfStudentT("hs_lambda", nu=1, sigma=1, dims="condition")
    slab_df, slab_scale = options["slab_df"], options["slab_scale"]
    c2 = pm.InverseGamma("hs_c2", alpha=slab_df / 2, beta=slab_df * slab_scale**2 / 2)
    lam_tilde = pt.sqrt(c2 * lam**2 / (c2 + tau**2 * lam**2))
    z = pm.Normal("hs_z", 0.0, 1.0, dims="condition")
    return pm.Deterministic("b", z * tau * lam_tilde, dims="condition")


def _r2d2m2(design: ModelDesign, data: dict, spec: ModelSpec):
    """R2D2M2CP prior of pymc-extras over the condition effects.

    The output SD is the outcome's SD (gaussian; the residual SD becomes
    ``sqrt(1 - r2)`` times it) or the SD of the standard logistic (logit links, where
    ``r2`` is then the explained latent variance relative to the logistic residual's).
    """
    from pymc_extras.distributions import R2D2M2CP

    options = spec.options()
    input_sigma = np.array([1.0 if spec.standardize else design.raw_sd[c] for c in design.conditions])
    if design.family.name == "gaussian":
        output_sigma = data["outcome_scale"]
    else:
        output_sigma = float(np.sqrt(design.family.latent_residual_variance))
    residual_sigma, b = R2D2M2CP("b", output_sigma, input_sigma, dims=("condition",),
                                 r2=options["r2"], r2_std=options["r2_std"])
    if design.family.name == "gaussian":
        pm.Deterministic("sigma", residual_sigma)
    return b


def _sigma(spec: ModelSpec, scale: _OutcomeScale):
    model = pm.modelcontext(None)
    if "sigma" in model.named_vars:
        return model["sigma"]
    return scale.prior(spec, "sigma").create_variable("sigma")


def _group_intercepts(level: str, spec: ModelSpec, scale: _OutcomeScale):
    prior = scale.prior(spec, "group_sd", level)
    if level in spec.centered:
        sd = prior.create_variable(f"sd_{level}")
        return pm.Normal(f"u_{level}", 0.0, sd, dims=level)
    # non-centred: the SD signed, without its log transform (models.scales; the sampler's
    # draws are folded back to (|sd|, sign(sd) z), the same model and posterior)
    sd = (signed_prior(prior) or prior).create_variable(f"sd_{level}")
    z = pm.Normal(f"z_{level}", 0.0, 1.0, dims=level)
    return pm.Deterministic(f"u_{level}", z * sd, dims=level)


def _varying_slopes(design: ModelDesign, data: dict, X_full: dict, spec: ModelSpec, scale: _OutcomeScale):
    """Independent alliance deviations of the named slopes (non-centred by default)."""
    sd = scale.prior(spec, "slope_sd", dims=("slope_condition",)).create_variable("sd_slope")
    dims = ("alliance", "slope_condition")
    if "alliance" in spec.centered:
        slope = pm.Normal("slope", 0.0, sd, dims=dims)
    else:
        z = pm.Normal("z_slope", 0.0, 1.0, dims=dims)
        slope = pm.Deterministic("slope", z * sd, dims=dims)
    columns = []
    for name in spec.varying_slopes:
        level = design.condition_level[name]
        # a condition left out of a sub-model takes its varying slope with it
        mask = data["condition_mask"][design.conditions.index(name)]
        column = X_full[level][:, design.level_conditions[level].index(name)] * mask
        columns.append(column if level == "individual" else column[data[f"idx_{level}"]])
    x = pt.stack(columns, axis=1)
    return (x * slope[data["idx_alliance"]]).sum(axis=1)


# -- likelihoods (one entry per family) ------------------------------------------------
def _ordinal(design, data, predictor, spec, scale):
    raw, _ = spec.prior("cutpoints")
    prior = Prior.from_dict(raw)
    # where the samplers start the cutpoints (see initial_values); a container, so that a
    # compiled model reused with new data starts from the new data's proportions
    pm.Data("cutpoint_start", cutpoint_start(design), dims="cutpoint")
    cutpoints = prior.pymc_distribution(
        "cutpoints", **prior.parameters, dims="cutpoint",
        transform=pm.distributions.transforms.ordered)
    # draws of the observed container's integer type, so that a log-density does not cast
    # the observed categories again at every call
    draws = functools.partial(_cumulative_logit_draws, dtype=data["y_observed"].dtype)
    pm.CustomDist("y", *predictor.parts, cutpoints, dist=draws,
                  logp=cumulative_logit_logp_op, signature="(p),(p),(g),(l),(),(k)->()",
                  observed=data["y_observed"], dims="individual")


def _cumulative_logit_draws(X, b, table, idx, offset, cutpoints, size, dtype="int64"):
    """Draw categories as the number of cutpoints a logistic latent value exceeds."""
    eta = linear_predictor(X, b, table, idx, offset)
    latent = pm.Logistic.dist(mu=eta, s=1.0, size=size)
    # The category is the count of cutpoints below the latent value. Cutpoints on the
    # second-last axis, so that numpy adds whole rows (a sum over a short last axis is
    # slow), counted in int16, because PyTensor's Python linker (models.predictive) first
    # copies a sum's input to the accumulator's type.
    above = latent[..., None, :] > cutpoints[..., :, None]
    return pt.sum(above, axis=-2, dtype="int16", acc_dtype="int16").astype(dtype)


def _gaussian(design, data, predictor, spec, scale):
    pm.Normal("y", mu=predictor.eta, sigma=_sigma(spec, scale), observed=data["y_observed"], dims="individual")


def _bernoulli(design, data, predictor, spec, scale):
    pm.Bernoulli("y", logit_p=predictor.eta, observed=data["y_observed"], dims="individual")


def _binomial(design, data, predictor, spec, scale):
    pm.Binomial("y", n=data["trials"], logit_p=predictor.eta, observed=data["y_observed"],
               dims="individual")


LIKELIHOODS = {"ordinal": _ordinal, "gaussian": _gaussian, "bernoulli": _bernoulli,
               "binomial": _binomial}


def _likelihood(design, data, predictor, spec, scale):
    LIKELIHOODS[design.family.name](design, data, predictor, spec, scale)


def initial_values(design: ModelDesign, model: pm.Model | None = None) -> dict:
    """Starting values the samplers should use (ordered cutpoints need distinct ones).

    They are passed to the sampler rather than set as ``initval`` in the graph, because
    PyMC's graph transforms (log-likelihood, predictive draws) refuse custom initvals.
    With ``model``, the values are the model's ``cutpoint_start`` data container rather
    than numbers, so that they follow :func:`start_data` when the data change.
    """
    out = {}
    if design.family.name == "ordinal":
        out["cutpoints"] = model["cutpoint_start"] if model is not None else cutpoint_start(design)
    if design.raters is not None:
        out["rater_cutpoints"] = design.raters.cutpoint_start()
    return out


def start_data(design: ModelDesign) -> dict[str, np.ndarray]:
    """Return the data containers that only the starting point reads (not in ``data()``)."""
    if design.family.name == "ordinal":
        return {"cutpoint_start": cutpoint_start(design)}
    return {}


def cutpoint_start(design: ModelDesign) -> np.ndarray:
    """Logits of the observed cumulative proportions (strictly increasing), to start from."""
    k = design.n_categories
    counts = np.bincount(design.y, minlength=k)[:k] + 0.5  # +0.5: empty categories still get room
    cumulative = np.cumsum(counts)[:-1] / counts.sum()
    start = np.log(cumulative / (1 - cumulative))
    return start + np.arange(k - 1) * 1e-3  # ties cannot happen, but stay strictly ordered
