"""A real file as it comes: mlmRev::Exam with its sex column coded M/F (issue 13, item 6).

The matrix (``test_matrix.py``) turns factors into 0/1 columns in pandas first; this test
gives the toolkit the raw strings and maps them in the codebook with ``codes``. No fit.
"""

from __future__ import annotations

import numpy as np

from data import load_codebook, load_survey

from .datasets import CODEBOOKS, _rdata


def test_exam_sex_mapped_by_codebook_codes(tmp_path):
    raw = _rdata("mlmRev", "Exam")
    raw = raw[raw["school"] <= 5][["rownames", "school", "normexam", "standLRT", "sex",
                                    "schavg"]]
    data = tmp_path / "exam_raw.csv"
    raw.to_csv(data, index=False)
    text = (CODEBOOKS / "exam.toml").read_text().replace(
        "[conditions.girl]", '[conditions.sex]\ncodes = { M = 0, F = 1 }').replace(
        "row", "rownames", 1)
    book = tmp_path / "exam_codes.toml"
    book.write_text(text)
    survey = load_survey(data, load_codebook(book))
    sex = survey.individuals["sex"].to_numpy(dtype=float)
    assert np.array_equal(sex, (raw["sex"] == "F").to_numpy(dtype=float))
