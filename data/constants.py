"""Constants that more than one package needs, defined once.

They live here, in the most upstream package, so that any package can import them
without loading PyMC (``models``) or matplotlib. The observation levels of the design
(``LEVELS``, ``GROUP_LEVELS``) live with the codebook that declares them
(:mod:`data.codebook`).
"""

from __future__ import annotations

import math

SAMPLE_DIMS = ("chain", "draw")
"""The dimensions of a posterior's draws (ArviZ's convention)."""

LOGISTIC_VARIANCE = math.pi**2 / 3
"""Variance of the standard logistic distribution: the latent residual variance of a logit link."""
