"""alliance-learning data package: codebooks, reading and validating surveys, simulation.

Also the plumbing every package shares: the base error (:mod:`data.errors`), JSON scalars
(:mod:`data.jsonable`), constants (:mod:`data.constants`), the shadowing guard
(:mod:`data.guard`).
"""

from .codebook import Codebook, CodebookError, load_codebook
from .coded import (
    CodedSurvey,
    check_coded_file,
    collapse_raters,
    load_coded,
    reliability,
    reliability_table,
    validate_coded,
)
from .errors import AllianceLearningError
from .io import DataFileError, read_table
from .load import load_survey, validate_file
from .simulate import Design, DesignError, Simulation, load_design, save_simulation, simulate
from .survey import CaseSurvey
from .validate import DataValidationError, Problem, ValidationReport, validate_frame

__all__ = [
    "AllianceLearningError",
    "CaseSurvey",
    "Codebook",
    "CodebookError",
    "CodedSurvey",
    "DataFileError",
    "DataValidationError",
    "Design",
    "DesignError",
    "Problem",
    "Simulation",
    "ValidationReport",
    "check_coded_file",
    "collapse_raters",
    "load_codebook",
    "load_coded",
    "load_design",
    "load_survey",
    "read_table",
    "reliability",
    "reliability_table",
    "save_simulation",
    "simulate",
    "validate_coded",
    "validate_file",
    "validate_frame",
]
