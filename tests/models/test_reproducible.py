"""The same seed gives the same draws on a first run (empty compile cache) and on later runs.

Each fit runs in its own process with its own, initially empty, PyTensor/numba cache
folder: the first process compiles everything, the second loads the compiled pieces from
the cache. With numba's fastmath the two rounded differently and the draws drifted apart
(see :func:`models.fit.exact_floats`). Two cold compilations of the example model take a
few minutes on 2 cores, so the test is marked slow (``--run-slow``).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

EXAMPLE = Path(__file__).resolve().parents[2] / "data" / "example" / "survey.csv"
FIT_AND_SAVE = f"""
import sys
import numpy as np
from data import load_survey
from models import ModelSpec, fit
tree = fit(ModelSpec(outcome="individual_learning"), load_survey({str(EXAMPLE)!r}),
           chains=2, draws=100, tune=100, seed=5, progressbar=False, predictive=False)
np.save(sys.argv[1], tree["posterior"]["b"].values)
"""


@pytest.mark.slow
def test_first_and_later_runs_give_identical_draws(tmp_path):
    cache = tmp_path / "cache"
    env = dict(os.environ,
               # fastmath on globally: the toolkit must turn it off for its own compilation
               PYTENSOR_FLAGS=f"base_compiledir={cache / 'pytensor'},numba__fastmath=True",
               NUMBA_CACHE_DIR=str(cache / "numba"))
    draws = []
    for run in ("first", "later"):
        out = tmp_path / f"{run}.npy"
        subprocess.run([sys.executable, "-c", FIT_AND_SAVE, str(out)], env=env, check=True,
                       cwd=EXAMPLE.parents[2])
        draws.append(np.load(out))
    np.testing.assert_array_equal(draws[0], draws[1])
