"""The ``alliance-learning`` command line: a thin layer over the Python API.

Every command catches the toolkit's own errors and prints them as plain lines (no
traceback) with a non-zero exit code. Logging handlers are configured here, never in the
library.
"""

from __future__ import annotations

import functools
import logging
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console

app = typer.Typer(
    name="alliance-learning",
    help="Bayesian models of the conditions for learning between competing organisations.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
console = Console()
err_console = Console(stderr=True)

# Errors a user can fix; anything else is a bug and keeps its traceback.
USER_ERRORS: tuple[type[Exception], ...] = (ValueError, FileNotFoundError, FileExistsError, KeyError)


def user_errors(func):
    """Print a user error as plain text and exit 2 instead of showing a traceback."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except USER_ERRORS as err:
            message = err.args[0] if isinstance(err, KeyError) and err.args else str(err)
            err_console.print(f"[bold red]error:[/] {message}", markup=True, highlight=False)
            raise typer.Exit(code=2) from None

    return wrapper


@app.callback()
def main(verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log progress details.")] = False):
    """Validate, fit, check and report hierarchical models of case-survey data."""
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
