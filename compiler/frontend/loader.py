"""Finds spec modules, runs them, validates each Loss, and builds the registry (name -> Loss).

Every failure becomes a SpecError naming the spec file and line, never a traceback.
"""
from __future__ import annotations

import builtins
import difflib
import importlib.util
import itertools
import re
import sys
import traceback
from pathlib import Path

import sympy as sp

from .language import ALL_FIELDS, CLASS_SETS, FIELDS, INDICES, SIZES, C, C_all, Loss, Param, choose, n
from .errors import SpecError
from .expand import free_indices, resolve
from .soundness import check_formula, check_spec_primitives, require_prediction
from .source import forget, keyword_line, locate, located


def bundled_dir() -> Path:
    """The folder of the bundled specs (the `symloss.specs` package)."""
    return Path(importlib.util.find_spec("symloss.specs").submodule_search_locations[0])


def spec_files(folder: Path) -> list[Path]:
    """Spec modules in a folder: every .py file except __init__ and _private helpers."""
    return sorted(p for p in folder.glob("*.py") if not p.name.startswith("_"))


def _module_name(path: Path) -> str:
    if path.parent.resolve() == bundled_dir().resolve():
        return f"symloss.specs.{path.stem}"
    return f"_symloss_user_spec_{abs(hash(str(path.resolve())))}_{path.stem}"


def _line_in(path: Path, tb) -> int | None:
    frames = [f for f in traceback.extract_tb(tb) if Path(f.filename).resolve() == path.resolve()]
    return frames[-1].lineno if frames else None


def load_file(path) -> Loss:
    """Run one spec file and return its `LOSS`."""
    path = Path(path)
    shown = str(path)
    if not path.is_file():
        raise SpecError("no such spec file", path=shown)
    name = _module_name(path)
    module_spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(module_spec)
    sys.modules[name] = module
    forget(path)
    try:
        module_spec.loader.exec_module(module)
    except SyntaxError as err:
        sys.modules.pop(name, None)
        raise SpecError(f"syntax error: {err.msg}", path=shown, line=err.lineno) from None
    except SpecError as err:
        sys.modules.pop(name, None)
        raise err.located(shown, _line_in(path, err.__traceback__)) from None
    except Exception as err:  # noqa: BLE001 - any error while running a spec is the spec's error
        sys.modules.pop(name, None)
        message = f"{type(err).__name__}: {err}{_suggestion(err, module)}"
        raise SpecError(message, path=shown, line=_line_in(path, err.__traceback__)) from None
    loss = getattr(module, "LOSS", None)
    if not isinstance(loss, Loss):
        raise SpecError("the module defines no `LOSS = Loss(...)`", path=shown)
    loss.path = shown
    loss.namespace = vars(module)  # where the loader looks for the line that wrote an expression
    check_spec_primitives(loss)
    return loss


def _suggestion(err: Exception, module) -> str:
    """Python's "Did you mean" for a misspelt name or attribute (the interpreter adds it only when it
    prints a traceback itself)."""
    name = getattr(err, "name", None)
    if not isinstance(name, str):
        return ""
    if isinstance(err, NameError):
        candidates = list(vars(module)) + dir(builtins)
    elif isinstance(err, AttributeError) and getattr(err, "obj", None) is not None:
        candidates = dir(err.obj)
    else:
        return ""
    close = difflib.get_close_matches(name, [c for c in candidates if not c.startswith("__")], n=1)
    return f". Did you mean: {close[0]!r}?" if close and close[0] != name else ""


def _first_line_naming(path: str, word: str, default: int | None) -> int | None:
    """The first line that holds `word` (a whole word, or the exact text if it is not one)."""
    pattern = re.compile(rf"\b{re.escape(word)}\b" if word.isidentifier() else re.escape(word))
    try:
        for k, text in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
            if pattern.search(text):
                return k
    except OSError:
        pass
    return default


def validate(loss: Loss, registry: dict) -> None:
    """Check a loaded Loss against the registry: references, symbols, indices, sums, and everything the
    compiler could not turn into code that runs and is right (a SpecError now, not a failure at every call)."""
    try:
        expr = resolve(loss.expr, registry)
        weight = resolve(loss.mean_denominator, registry) if loss.mean_denominator is not None else None
    except SpecError as err:
        raise located(err, loss) from None
    options = [[(ch.name, o) for o in ch.options] for ch in loss.choices]
    for combo in itertools.product(*options):
        chosen = choose(expr, dict(combo))
        _validate_formula(loss, chosen, "expr")
        require_prediction(loss, chosen)
        if weight is not None:
            chosen_weight = choose(weight, dict(combo))
            _validate_formula(loss, chosen_weight, "mean_denominator")
            if not set(free_indices(chosen_weight)) <= set(free_indices(chosen)):
                _fail(loss, "mean_denominator leaves free an index that expr does not: it must weigh expr's entries",
                      keyword="mean_denominator")


def _fail(loss: Loss, message: str, word: str | None = None, subject=None, keyword: str = "expr", line=None):
    if line is None:
        if subject is not None or keyword != "expr":
            line = locate(loss, subject, keyword, text=word)
        else:
            line = _first_line_naming(loss.path, word, loss.line) if word else loss.line
    raise SpecError(message, path=loss.path, line=line)


def _validate_formula(loss: Loss, expr, what: str) -> None:
    params = loss.param_map
    weights = {w.name for w in loss.weights}
    vectors = weights | {f"{w}_all" for w in weights} | set(CLASS_SETS) | {f"{k}_all" for k in CLASS_SETS}
    every_class = {base.name for base in ALL_FIELDS.values()}
    for ind in sorted(expr.atoms(sp.Indexed), key=sp.default_sort_key):
        name = ind.base.name
        if name in vectors:
            if tuple(ind.indices) != (INDICES[0],):
                _fail(loss, f"{ind} is indexed {tuple(ind.indices)}: class weights and class sets are indexed [c]",
                      str(ind), ind)
            continue
        if name not in FIELDS and name not in every_class:
            _fail(loss, f"{what} indexes {name!r}, which is no field: use p, g or x, or a listed ClassWeights", name)
        selected = name in every_class and ind.indices[0].is_Integer and ind.indices[0] >= 0  # p[0, i]
        if tuple(ind.indices) != INDICES and not (selected and ind.indices[1] == INDICES[1]):
            strays = [ix for ix in ind.indices if ix not in INDICES]
            hint = (f"; {', '.join(map(str, strays))} is no index: the indices are c (classes) and i (pixels), "
                    f"and Sum(expr, i) / Sum(expr, c) sum over them" if strays else "")
            _fail(loss, f"{ind} is indexed {tuple(ind.indices)}: fields are indexed [c, i] exactly, or [k, i] for one "
                        f"class k (p[0, i] is the background){hint}", str(ind), ind)
    labels = {ind.base.label for ind in expr.atoms(sp.Indexed)}
    for sym in sorted(expr.free_symbols - set(INDICES) - {C, C_all, n} - labels, key=str):
        if not isinstance(sym, sp.Symbol):
            continue
        if sym.name not in params or not isinstance(params[sym.name], Param):
            if isinstance(sym, Param):
                _fail(loss, f"{what} uses the parameter {sym.name!r}, which is not in params=[...]: add it there",
                      keyword="params")
            _fail(
                loss,
                f"{what} uses the symbol {sym.name!r}, which is not a parameter: declare "
                f"{sym.name} = Param({sym.name!r}, default, domain=(low, high), doc=...) and list it in params=[...]",
                sym.name,
            )
    for s in expr.atoms(sp.Sum):
        for var, lo, hi in s.limits:
            if var not in SIZES or lo != 0 or hi not in (SIZES[var] - 1, C_all - 1):
                _fail(loss, f"{s} is not a Sum over c or i: build sums with Sum(expr, c) or Sum(expr, i) from the dsl",
                      subject=s)
    check_formula(loss, expr, what)


def load_registry(paths=(), include_bundled: bool = True) -> dict:
    """Load the bundled specs (unless told not to) and any spec files or folders in `paths`."""
    files = spec_files(bundled_dir()) if include_bundled else []
    for raw in paths:
        path = Path(raw)
        files.extend(spec_files(path) if path.is_dir() else [path])
    registry: dict[str, Loss] = {}
    seen: set[Path] = set()
    for path in files:
        if path.resolve() in seen:
            continue
        seen.add(path.resolve())
        loss = load_file(path)
        if loss.name in registry:
            other = registry[loss.name].path
            raise SpecError(
                f"name {loss.name!r} is already registered by {other}: choose another name",
                path=loss.path, line=keyword_line(loss.path, loss.line, "name") or loss.line,
            )
        registry[loss.name] = loss
    for loss in registry.values():
        validate(loss, registry)
    return registry
