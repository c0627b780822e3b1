"""The one error type a spec author sees: what is wrong, where, and what to write instead."""
from __future__ import annotations


class SpecError(Exception):
    """A spec is malformed. Carries the spec file and line once the loader knows them."""

    def __init__(self, message: str, *, path: str | None = None, line: int | None = None):
        super().__init__(message)
        self.message = message
        self.path = path
        self.line = line

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
