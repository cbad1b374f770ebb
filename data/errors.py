"""The toolkit's base error and the one reader of its TOML files (codebook, design, run config).

Every error the toolkit raises about a user's input or files derives from
:class:`AllianceLearningError`, so ``except AllianceLearningError`` catches them all.
Errors about a file with problems (:class:`ProblemsError`) name the file and list every
problem, not just the first.
"""

from __future__ import annotations

import tomllib
from pathlib import Path


class AllianceLearningError(Exception):
    """Base of every error the toolkit raises about a user's input, files or runs."""


class ProblemsError(AllianceLearningError, ValueError):
    """An input with problems: ``source`` names it, ``problems`` lists every one.

    Subclasses set ``what`` (e.g. ``"the codebook"``), used in the message.
    """

    what = "the input"

    def __init__(self, source: str, problems: list[str]):
        self.source = str(source)
        self.problems = list(problems)
        if len(self.problems) == 1:
            message = f"{self.source}: {self.problems[0]}"
        else:
            lines = "\n".join(f"  - {p}" for p in self.problems)
            message = f"{self.source}: {len(self.problems)} problem(s) in {self.what}:\n{lines}"
        super().__init__(message)


def read_toml(path: str | Path, error: type[ProblemsError]) -> dict:
    """Read a TOML file; a missing or malformed file raises ``error`` naming the file."""
    path = Path(path)
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise error(str(path), ["file not found"]) from None
    except tomllib.TOMLDecodeError as err:
        raise error(str(path), [f"not valid TOML: {err}"]) from None
