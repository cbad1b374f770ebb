"""Reference fixed effects of the real-data matrix: maximum-likelihood fits in R.

Each model is the one a published source fits to the dataset (cited per entry); the
numbers are what ``tests/realdata/references.R`` printed with Debian bookworm's R 4.2.2,
lme4 1.1-31 and ordinal 2022.11-16 (Laplace approximation; clmm with nAGQ = 10 for wine)
on the tables of ``tests/realdata/datasets.py``. They are hard-coded: the tests never need
R. Effects are per raw unit of each predictor (a 0/1 column: the 0 -> 1 contrast), as
lme4 and ordinal report them; clm/clmm's cumulative logit, logit P(Y <= j) = theta_j -
eta, has the toolkit's sign convention.

``REFERENCES[name]["small" | "full"]`` maps a condition to (estimate, standard error).
"""

from __future__ import annotations

CITATIONS = {
    "wine": "clmm(rating ~ temp + contact + (1|judge)): Christensen, R. H. B., 'A Tutorial on "
            "fitting Cumulative Link Mixed Models with clmm2 from the ordinal Package' "
            "(ordinal vignette), wine data of Randall (1989)",
    "exam": "lmer(normexam ~ standLRT + sex + schavg + (1|school), REML = FALSE): the random-"
            "intercept model of the Exam data in Goldstein (2011), Multilevel Statistical Models, "
            "and the mlmRev vignette 'Examples from Multilevel Software Comparative Reviews'",
    "contraception": "glmer(use ~ age + I(age^2) + urban + ch + (1|district), binomial): Bates, "
                     "D. (2010), lme4: Mixed-effects modeling with R, ch. 6 (Contraception)",
    "cbpp": "glmer(cbind(incidence, size - incidence) ~ period + (1|herd), binomial): the "
            "example of ?cbpp and ?glmer in lme4 (Bates, Maechler, Bolker & Walker)",
    "insteval": "clmm(y ~ studage + lectage + service + (1|s) + (1|d)) on department 5 (no "
                "published fit of this subset; the crossed design of lme4's InstEval example, "
                "Bates et al. 2015, J. Stat. Softw. 67(1))",
}

REFERENCES = {
    "wine": {
        "small": {"warm": (3.0619, 0.5951), "contact": (1.8334, 0.5122)},
    },
    "exam": {
        "small": {"standLRT": (0.5520, 0.0213), "girl": (0.2129, 0.0500),
                  "schavg": (0.5291, 0.2275)},
        "full": {"standLRT": (0.5558, 0.0125), "girl": (0.1686, 0.0325),
                 "schavg": (0.3429, 0.1085)},
    },
    "contraception": {
        "small": {"age": (0.0063, 0.0079), "age2": (-0.0046, 0.0007),
                  "urban": (0.6929, 0.1207), "ch": (0.8604, 0.1483)},
    },
    "cbpp": {
        "small": {"period2": (-0.9919, 0.3032), "period3": (-1.1282, 0.3228),
                  "period4": (-1.5797, 0.4220)},
    },
    "insteval": {
        "small": {"studage": (0.0344, 0.0326), "lectage": (-0.1471, 0.0327),
                  "service": (0.4313, 0.2296)},
    },
}
# datasets used in full by the tests: the full-size reference is the small one
for _name in ("wine", "contraception", "cbpp"):
    REFERENCES[_name]["full"] = REFERENCES[_name]["small"]
