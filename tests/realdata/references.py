"""Reference fixed effects of the real-data matrix: maximum-likelihood fits in R.

Each entry names its model and where its numbers come from: a published output where
one exists for exactly this model and data (mlmRev's vignette for Exam, lme4's test
output for Contraception), otherwise ``tests/realdata/references.R`` run here with
Debian bookworm's R 4.2.2, lme4 1.1-31 and ordinal 2022.11-16 on the tables of
``tests/realdata/datasets.py`` (its output reproduces both published fits to the third
decimal: Exam 0.5598 / 0.1674 / 0.1777 / 0.1590; Contraception 0.0063 / -0.0046 / 0.8604 /
0.6929). The tests never need R. Effects are per raw unit of each predictor (a 0/1 column:
the 0 -> 1 contrast), as lme4 and ordinal report them; clm/clmm's cumulative logit,
logit P(Y <= j) = theta_j - eta, has the toolkit's sign convention.

``REFERENCES[name]["small" | "full"]`` maps a condition to (estimate, standard error).
"""

from __future__ import annotations

RSCRIPT = "tests/realdata/references.R (R 4.2.2, lme4 1.1-31, ordinal 2022.11-16)"

CITATIONS = {
    "wine": "clmm(rating ~ temp + contact + (1|judge), nAGQ = 10), the model of Christensen's "
            "tutorial 'Fitting Cumulative Link Mixed Models with clmm2' (ordinal vignette) on "
            "Randall's (1989) wine data; numbers: " + RSCRIPT,
    "exam": "lmer(normexam ~ standLRT + sex + schgend + (1|school)) (REML), Em1 of Bates, "
            "'Examples from Multilevel Software Comparative Reviews' (mlmRev vignette "
            "MlmSoftRev; full data: its printed estimates, sexM negated: the codebook codes F as 1); small "
            "subset: " + RSCRIPT,
    "contraception": "glmer(use ~ age + I(age^2) + ch + urban + (1|district), binomial), gm1 "
                     "printed in lme4/lme4pureR tests/Contraception.R (Bates & Walker), "
                     "ch = livch != 0",
    "cbpp": "glmer(cbind(incidence, size - incidence) ~ period + (1|herd), binomial), the "
            "example of ?cbpp in lme4 (Lesnoff et al. 2004 data); numbers: " + RSCRIPT,
    "insteval": "clmm(ordered(y) ~ studage + lectage + service + (1|s) + (1|d)) on department 5 "
                "(lme4::InstEval's students x lecturers crossed design); no published fit of "
                "this subset; numbers: " + RSCRIPT,
}

REFERENCES = {
    "wine": {
        "small": {"temp": (3.0619, 0.5951), "contact": (1.8334, 0.5122)},
    },
    "exam": {
        "small": {"standLRT": (0.5636, 0.0211), "sex": (0.1890, 0.0574),
                  "boys_school": (0.2206, 0.1976), "girls_school": (0.0108, 0.1699)},
        "full": {"standLRT": (0.55975, 0.012450), "sex": (0.16739, 0.034100),
                 "boys_school": (0.17769, 0.11347), "girls_school": (0.15900, 0.089403)},
    },
    "contraception": {
        "small": {"age": (0.006256, 0.007840), "age2": (-0.004635, 0.000716),
                  "urban": (0.692922, 0.119668), "ch": (0.860382, 0.147353)},
    },
    "cbpp": {
        "small": {"period2": (-0.9919, 0.3032), "period3": (-1.1282, 0.3228),
                  "period4": (-1.5797, 0.4220)},
    },
    "insteval": {
        "small": {"studage": (0.0344, 0.0326), "lectage": (-0.1471, 0.0327),
                  "service": (0.4313, 0.2296)},
        "full": {"studage": (0.0200, 0.0249), "lectage": (-0.0960, 0.0237),
                 "service": (0.3007, 0.1676)},
    },
}
# datasets the tests use whole: the full-size reference is the small one
for _name in ("wine", "contraception", "cbpp"):
    REFERENCES[_name]["full"] = REFERENCES[_name]["small"]
