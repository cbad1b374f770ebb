"""A real file as it comes: mlmRev::Exam with its sex column coded M/F (issue 13, item 6).

The matrix (``test_matrix.py``) fits the same codebook; this test checks, without a fit,
that the codebook's ``codes = { M = 0, F = 1 }`` maps every raw cell to the right number.
"""

from __future__ import annotations

import numpy as np

from data import load_codebook, load_survey

from .datasets import CODEBOOKS, prepare


def test_exam_sex_mapped_by_codebook_codes(tmp_path):
    raw = prepare("exam")
    assert set(raw["sex"]) == {"M", "F"}  # the file keeps the text codes
    data = tmp_path / "exam.csv"
    raw.to_csv(data, index=False)
    survey = load_survey(data, load_codebook(CODEBOOKS / "exam.toml"))
    sex = survey.individuals["sex"].reindex(raw["row"].astype(str)).to_numpy(dtype=float)
    assert np.array_equal(sex, (raw["sex"] == "F").to_numpy(dtype=float))
