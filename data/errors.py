"""The toolkit's base error.

Every error the toolkit raises about a user's input or files derives from
:class:`AllianceLearningError`, so ``except AllianceLearningError`` catches them all.
Errors about a file with problems (:class:`ProblemsError`) name the file and list every
problem, not just the first.
"""

from __future__ import annotations


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

