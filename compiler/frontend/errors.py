"""The one error type a spec author sees: what is wrong, where, and what to write instead."""
from __future__ import annotations


class SpecError(Exception):
    """A spec is malformed. Carries the spec file and line once the loader knows them.

    `subject` is the offending expression, if any: the loader uses it to find the line that wrote it.
    `internal` marks a failure of the compiler itself, reported as a SpecError so that the author sees
    the file and line rather than a traceback; the spec fuzzer counts those as bugs.
    """

    def __init__(self, message: str, *, path: str | None = None, line: int | None = None, subject=None,
                 internal: bool = False):
        super().__init__(message)
        self.message = message
        self.path = path
        self.line = line
        self.subject = subject
        self.internal = internal

    def located(self, path: str, line: int | None) -> "SpecError":
        """The same error, pinned to a file and line (kept if already pinned)."""
        if self.path is None:
            self.path, self.line = path, line
        return self

    def __str__(self) -> str:
        if self.path is None:
            return self.message
        where = self.path if self.line is None else f"{self.path}:{self.line}"
        return f"{where}: {self.message}"
