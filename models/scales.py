"""Signed group SDs: the non-centred group intercepts' SD sampled without its log transform.

A non-centred level ``u = sd * z`` (``z ~ N(0, 1)``) with ``sd ~ HalfNormal(s)`` is the
same model as ``u = t * z`` with ``t ~ Normal(0, s)`` and ``sd = |t|``: ``|t|`` has the
half-normal law and ``z`` is symmetric, so ``(|t|, sign(t) z)`` has the joint law of
``(sd, z)`` and ``u`` is unchanged. The priors, the likelihood and the posterior of every
reported quantity are the same; only the sampler's coordinates differ. Without the
constraint there is no log transform, whose long left tail (an SD the data cannot tell
from 0, such as ``sd_organisation`` of a case survey, whose posterior reaches 0.004 at its
1% quantile) NUTS explores slowly; ``t`` passes through 0 smoothly. At 2,000 respondents,
pooled over 6 fits, this raised the min bulk ESS per CPU second 1.41x and the min tail ESS
1.87x, with no R-hat >= 1.01 left (tests/benchmarks/geometry.py; figures in
tests/benchmarks/README.md, section "geometry.py").

The sampler's draws of ``t`` (stored under the SD's name, ``sd_<level>``) are negative in
about half the draws: :func:`fold_signed_scales` maps every draw to ``(|t|, sign(t) z)``,
the same point of the original parameterisation, so that the stored ``sd_<level>`` is the
SD and ``z_<level>`` its standard-normal offsets, as before. Every place that takes draws
from a sampler or the prior folds them (``models.fit``, ``models.predictive``,
``analysis.sbc``).

The sampler does not store the non-centred products (``u_<level> = sd * z``, the varying
``slope = sd_slope * z_slope``; :func:`unstored_products`): at a million respondents the
20,833 alliance effects are 1.3 GB per stored variable at 8,000 draws, held twice while
nutpie converts its trace. :func:`sampler_draws` folds the draws and computes the products
from the folded ``sd`` and ``z``: the same numbers as the sampler's (one product of the same
two doubles; ``|t| * (sign(t) z) = t * z`` exactly).

Half-distributions with a symmetric counterpart (numeric parameters only): HalfNormal,
HalfStudentT, HalfCauchy. Any other group-SD prior keeps the ordinary constrained SD.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from data.codebook import GROUP_LEVELS

# half-distribution -> its symmetric counterpart (location 0), and the parameter names
_SYMMETRIC = {"HalfNormal": "Normal", "HalfStudentT": "StudentT", "HalfCauchy": "Cauchy"}
_SCALE_PARAMETER = {"HalfNormal": "sigma", "HalfStudentT": "sigma", "HalfCauchy": "beta"}
_LOCATION = {"Normal": "mu", "StudentT": "mu", "Cauchy": "alpha"}


def signed_prior(prior):
    """The symmetric counterpart of a half-distribution ``Prior``, or None where it has none.

    ``Prior("HalfNormal", sigma=s)`` gives ``Prior("Normal", mu=0, sigma=s)``, whose absolute
    value has the half-normal law (likewise HalfStudentT and HalfCauchy).
    """
    from pymc_extras.prior import Prior

    if prior.distribution not in _SYMMETRIC or prior.transform is not None or prior.dims:
        return None
    if any(isinstance(value, Prior) for value in prior.parameters.values()):
        return None  # a hierarchical scale: keep it as written
    if _SCALE_PARAMETER[prior.distribution] not in prior.parameters:
        return None
    symmetric = _SYMMETRIC[prior.distribution]
    parameters = {_LOCATION[symmetric]: 0.0, **prior.parameters}
    return Prior(symmetric, **parameters)


# a non-centred product the model defines as a Deterministic: name -> (offsets, scale)
_PRODUCTS = {**{f"u_{level}": (f"z_{level}", f"sd_{level}") for level in GROUP_LEVELS},
             "slope": ("z_slope", "sd_slope")}


def unstored_products(model) -> set[str]:
    """Names of ``model``'s deterministics the sampler need not store: each non-centred
    product ``sd * z`` whose ``sd`` and ``z`` are free variables (:func:`sampler_draws`
    computes it from their draws).
    """
    free = {variable.name for variable in model.free_RVs}
    deterministic = {variable.name for variable in model.deterministics}
    return {name for name, (z, sd) in _PRODUCTS.items()
            if name in deterministic and z in free and sd in free}


def stored_names(model) -> list[str]:
    """The variables of ``model`` a sampler's trace keeps besides the free ones (nutpie's
    ``var_names``): all but :func:`unstored_products`.
    """
    unstored = unstored_products(model)
    return [variable.name for variable in model.unobserved_value_vars if variable.name not in unstored]


def sampler_draws(ds: xr.Dataset, *, in_place: bool = False) -> xr.Dataset:
    """A sampler's posterior draws as the model reports them: signed SDs folded
    (:func:`fold_signed_scales`) and the products it did not store computed from them.

    ``in_place``: the draws of ``z`` may be overwritten (the caller owns them: a sampler's
    fresh trace), which saves a copy of the largest arrays of a large survey.
    """
    ds = fold_signed_scales(ds, in_place=in_place)
    products = {}
    for name, (z, sd) in _PRODUCTS.items():
        if name not in ds and z in ds and sd in ds:
            products[name] = (ds[z] * ds[sd]).transpose(*ds[z].dims)
    return ds.assign(products) if products else ds


def fold_signed_scales(ds: xr.Dataset, *, in_place: bool = False) -> xr.Dataset:
    """Map draws of signed group SDs to ``(|t|, sign(t) z)`` (see the module docstring).

    For each level with both ``sd_<level>`` and ``z_<level>`` (a non-centred level, whose
    ``u_<level> = sd * z`` is unchanged by the map). A draw with ``sd_<level> >= 0`` is left
    as it is, so draws of an ordinary (constrained) SD pass through unchanged.
    ``in_place``: negate the draws of ``z`` in their own array where it is writable (the
    caller owns it) instead of in a copy.
    """
    changes = {}
    for level in GROUP_LEVELS:
        sd_name, z_name = f"sd_{level}", f"z_{level}"
        if sd_name not in ds or z_name not in ds:
            continue
        sd = ds[sd_name]
        negative = sd < 0
        if not bool(negative.any()):
            continue
        changes[sd_name] = np.abs(sd)
        z = ds[z_name]
        if in_place and isinstance(z.data, np.ndarray) and z.data.flags.writeable:
            flip = negative.broadcast_like(z).transpose(*z.dims).values
            np.negative(z.data, out=z.data, where=flip)
            changes[z_name] = z
        else:
            changes[z_name] = xr.where(negative, -z, z).transpose(*z.dims)
        changes[z_name].attrs = ds[z_name].attrs
        changes[sd_name].attrs = sd.attrs
    return ds.assign(changes) if changes else ds
