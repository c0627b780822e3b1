"""Where a spec wrote something: the file and line an error should point at.

SymPy objects cannot carry a line (equal expressions are shared and rebuilt freely), so the DSL's
constructors (`ref`, `Sum`, `Mean`, `Param`, claims, `Loss`) note the caller's line here, keyed by
the object they return. The loader then finds, for an offending sub-expression, the line where the
spec first wrote it: a noted object that contains it, else the first module-level assignment
whose value contains it, else the `Loss(...)` keyword that holds it.
"""
from __future__ import annotations

import ast
import sys
from pathlib import Path

import sympy as sp

_INTERNAL = (
    str(Path(__file__).resolve().parents[1]),  # the compiler package
    str(Path(sp.__file__).resolve().parent),  # SymPy (its metaclasses and decorators sit between)
)


def _internal(filename: str) -> bool:
    if filename.startswith("<"):
        return True  # dataclass-generated __init__, frozen importlib
    try:
        resolved = str(Path(filename).resolve())
    except OSError:
        return False
    return resolved.startswith(_INTERNAL)


def caller() -> tuple[str | None, int | None]:
    """(file, line) of the innermost frame outside the compiler and SymPy: the spec's own line."""
    frame = sys._getframe(1)
    while frame is not None and _internal(frame.f_code.co_filename):
        frame = frame.f_back
    if frame is None:
        return None, None
    return frame.f_code.co_filename, frame.f_lineno


_NOTED: dict[str, dict] = {}  # resolved path -> {expression: first line}


def _key(path) -> str:
    return str(Path(path).resolve())


def note(obj, where: tuple[str | None, int | None] | None = None):
    """Remember where `obj` was written (the caller's line unless given); returns `obj`."""
    path, line = where or caller()
    if path is not None and line is not None:
        try:
            _NOTED.setdefault(_key(path), {}).setdefault(obj, line)
        except TypeError:  # unhashable: nothing to remember
            pass
    return obj


def forget(path) -> None:
    """Drop what was noted for a file (before it is run again)."""
    _NOTED.pop(_key(path), None)


def _contains(expr, subject) -> bool:
    if expr == subject:
        return True
    try:
        return isinstance(expr, sp.Basic) and expr.has(subject)
    except (TypeError, AttributeError):
        return False


def noted_line(path, subject) -> int | None:
    """The first line of `path` where the spec wrote `subject`, or an object noted there that holds it."""
    table = _NOTED.get(_key(path), {})
    if subject in table:
        return table[subject]
    lines = [line for obj, line in table.items() if _contains(obj, subject)]
    return min(lines) if lines else None


def _parse(path) -> ast.Module | None:
    try:
        return ast.parse(Path(path).read_text(encoding="utf-8"))
    except (OSError, SyntaxError, ValueError):
        return None


def assignment_line(path, namespace: dict, subject) -> int | None:
    """The first module-level assignment `name = ...` whose value (in `namespace`) holds `subject`."""
    tree = _parse(path)
    if tree is None or subject is None:
        return None
    for node in tree.body:
        targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(
            node, (ast.AnnAssign, ast.AugAssign)) else []
        for target in targets:
            if isinstance(target, ast.Name) and _contains(namespace.get(target.id), subject):
                return node.lineno
    return None


def keyword_line(path, call_line: int | None, keyword: str) -> int | None:
    """The line of `keyword=` in the call that starts at `call_line` (e.g. `name=` in `Loss(...)`)."""
    tree = _parse(path)
    if tree is None or call_line is None:
        return None
    calls = [node for node in ast.walk(tree) if isinstance(node, ast.Call)
             and node.lineno <= call_line <= (node.end_lineno or node.lineno)]
    for node in sorted(calls, key=lambda n: (n.end_lineno or n.lineno) - n.lineno):
        for kw in node.keywords:
            if kw.arg == keyword:
                return kw.lineno
    return None


def words_line(path, text: str) -> int | None:
    """The first line holding `text` as written, ignoring spaces (e.g. "p[c, j]" matches "p[c,j]")."""
    wanted = "".join(text.split())
    if not wanted:
        return None
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except OSError:
        return None
    for k, line in enumerate(lines, 1):
        if wanted in "".join(line.split()):
            return k
    return None


def locate(loss, subject=None, keyword: str = "expr", text: str | None = None) -> int | None:
    """The line of `loss`'s file that wrote `subject`: the earliest of the lines the DSL noted and the
    module-level assignments holding it (anything holding it is built after it), else the text itself,
    the `keyword=` of Loss(...), else the Loss's own line."""
    path = loss.path
    line = None
    if subject is not None:
        found = [noted_line(path, subject), assignment_line(path, getattr(loss, "namespace", {}), subject)]
        line = min((k for k in found if k is not None), default=None)
    if line is None and text:
        line = words_line(path, text)
    return line or keyword_line(path, loss.line, keyword) or loss.line


def located(err, loss, keyword: str = "expr"):
    """A SpecError pinned to the line of `loss`'s file that wrote its subject (kept if already pinned)."""
    return err.located(loss.path, locate(loss, err.subject, keyword))
