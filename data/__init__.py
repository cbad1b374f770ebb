"""alliance-learning data package."""

from .codebook import Codebook, CodebookError, load_codebook
from .coded import (
    CodedSurvey,
    check_coded_file,
    collapse_raters,
    load_coded,
    reliability,
    validate_coded,
)
from .errors import AllianceLearningError, ProblemsError
from .io import DataFileError, read_table
from .load import load_survey, validate_file
from .simulate import Design, DesignError, Simulation, load_design, save_simulation, simulate
from .survey import CaseSurvey
from .validate import DataValidationError, Problem, ValidationReport, validate_frame
