"""Finds spec modules, runs them, validates each Loss, and builds the registry (name -> Loss).

Every failure becomes a SpecError naming the spec file and line, never a traceback.
"""
from __future__ import annotations

import builtins
import difflib
import importlib.util
import inspect
import itertools
import re
import sys
import traceback
from pathlib import Path

import sympy as sp

from . import primitives
from .language import ALL_FIELDS, CLASS_SETS, FIELDS, INDICES, SIZES, C, C_all, Loss, Param, choose, n
from .errors import SpecError
from .expand import free_indices, resolve
from .functions import ELEMENTWISE
from .source import assignment_line, forget, keyword_line, noted_line, words_line


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
    loss.namespace = vars(module)
    _check_spec_primitives(loss)
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


def _check_spec_primitives(loss: Loss) -> None:
    """A Primitive defined in a spec brings its three parts (README, "Adding a primitive"): a Paddle
    implementation `paddle(ctx, *args)` for eager and graph mode, its oracle evaluation (`image` for a
    neighbourhood operator, else `reference`), and its gradient rule (differentiable=True: the oracle
    differentiates the evaluation; False: a constant of the gradient). An incomplete one is refused here, at
    the line of its class."""
    for value in list(loss.namespace.values()):
        if not (isinstance(value, type) and issubclass(value, primitives.Primitive)
                and value.__module__ != primitives.__name__):
            continue
        missing = primitives.missing_parts(value)
        if missing:
            try:
                line = inspect.getsourcelines(value)[1]
            except (OSError, TypeError):
                line = words_line(loss.path, f"class {value.__name__}") or loss.line
            raise SpecError(f"the primitive {value.__name__} {missing}", path=loss.path, line=line)


def _builtin_primitives() -> list[str]:
    return sorted(name for name, value in vars(primitives).items()
                  if isinstance(value, type) and issubclass(value, primitives.Primitive)
                  and value.__module__ == primitives.__name__ and getattr(value, "runtime", ""))


def locate(loss: Loss, subject=None, keyword: str = "expr", text: str | None = None) -> int | None:
    """The line of `loss`'s file that wrote `subject`: the earliest of the lines the DSL noted and the
    module-level assignments holding it, else the text itself, the `keyword=` of Loss(...), else the
    Loss's own line."""
    path = loss.path
    line = None
    if subject is not None:  # the earliest line that built something holding it is where it was written
        found = [noted_line(path, subject), assignment_line(path, getattr(loss, "namespace", {}), subject)]
        line = min((k for k in found if k is not None), default=None)
    if line is None and text:
        line = words_line(path, text)
    return line or keyword_line(path, loss.line, keyword) or loss.line


def located(err: SpecError, loss: Loss, keyword: str = "expr") -> SpecError:
    """`err` pinned to the line of `loss`'s file that wrote its subject."""
    return err.located(loss.path, locate(loss, err.subject, keyword))


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
    _check_vocabulary(loss, expr, what)
    _reject_index_values(loss, expr, what)
    _reject_undefined_constants(loss, expr, what)
    _check_primitives(loss, expr, what)
    _require_domains(loss, expr, what)


# --------------------------------------------------------------------------- what would not compile soundly

def _outside_vocabulary(expr):
    """The first node of `expr` that the compiler has no lowering for (a SymPy function, a relation, ...)."""
    if isinstance(expr, (sp.Indexed, sp.Symbol, sp.Number, sp.NumberSymbol)) or expr in (sp.zoo, sp.nan):
        return None
    if isinstance(expr, sp.Sum):
        return _outside_vocabulary(expr.function)
    allowed = isinstance(expr, (sp.Add, sp.Mul, sp.Pow, primitives.Primitive) + ELEMENTWISE)
    if not allowed:
        return expr
    for arg in expr.args:
        found = _outside_vocabulary(arg)
        if found is not None:
            return found
    return None


def _check_vocabulary(loss: Loss, expr, what: str) -> None:
    """Every node is arithmetic, a sum, a field, a parameter, or a function the compiler lowers."""
    node = _outside_vocabulary(expr)
    if node is None:
        return
    head = getattr(node, "func", type(node)).__name__
    names = ", ".join(sorted({f.__name__ for f in ELEMENTWISE} | {"sqrt (a power)"}))
    _fail(loss, f"{what} uses {head} in {node}, which the compiler cannot lower: formulas are built from "
                f"+ - * / **, sums, fields, parameters and {names}, and the primitives "
                f"({', '.join(_builtin_primitives())})", subject=node, word=head)


def index_used_as_value(expr):
    """(the smallest subexpression that reads an index as a number rather than to index a field, the index)."""
    if isinstance(expr, sp.Indexed):
        return None
    for arg in (expr.function,) if isinstance(expr, sp.Sum) else expr.args:
        if arg in INDICES:
            return expr, arg
        found = index_used_as_value(arg)
        if found is not None:
            return found
    return None


INDEX_ADVICE = {
    "class": "to treat class 0 differently from the others, write background[c] * a + foreground[c] * b, or name "
             "one class, p[0, i] (the background); for a weight per class, list a ClassWeights(\"weight\") "
             "parameter and write weight[c]",
    "pixel": "a pixel's position is not a value of the formula; weigh pixels with a primitive (e.g. DistanceField)",
}


def _reject_index_values(loss: Loss, expr, what: str) -> None:
    """An index used as a value (Indicator(c), i * p[c, i]) has no meaning in the generated code, where
    classes and pixels are tensor axes: refused here, in one place."""
    found = (expr, expr) if expr in INDICES else index_used_as_value(expr)
    if found is None:
        return
    node, index = found
    role = "class" if index == INDICES[0] else "pixel"
    _fail(loss, f"{what} uses the {role} index {index} as a number in {node}: indices only index fields "
                f"(p[c, i]) and class weights (weight[c]); {INDEX_ADVICE[role]}", subject=node, word=str(node))


UNDEFINED = (sp.nan, sp.zoo, sp.oo, -sp.oo)


def _smallest_holding(expr, atoms):
    """The innermost subexpression that has one of `atoms` as a direct argument."""
    for arg in expr.args:
        if arg in atoms:
            return expr
        found = _smallest_holding(arg, atoms)
        if found is not None:
            return found
    return None


def _reject_undefined_constants(loss: Loss, expr, what: str) -> None:
    """A literal division by zero (or a difference that SymPy folds to 0 below a fraction bar) becomes
    zoo or nan: code for it could only fail or return NaN."""
    bad = [a for a in expr.atoms() if a in UNDEFINED]
    if not bad:
        return
    node = expr if expr in UNDEFINED else _smallest_holding(expr, set(UNDEFINED))
    shown = f"{what} is {node}" if node in UNDEFINED else f"{what} holds {node}"
    _fail(loss, f"{shown}, an infinite or undefined constant ({bad[0]}): a denominator is identically 0 (a "
                f"literal / 0, or a difference such as Sum(p, i) - Sum(p, i)) or a constant is infinite; "
                f"change the formula", subject=node)


def _check_primitives(loss: Loss, expr, what: str) -> None:
    """Each primitive is a compiler builtin, and maps images to images: its arguments are per class and pixel."""
    for prim in sorted(expr.atoms(primitives.Primitive), key=sp.default_sort_key):
        missing = primitives.missing_parts(type(prim)) if type(prim).__module__ != primitives.__name__ else ""
        if missing:
            _fail(loss, f"the primitive {type(prim).__name__} {missing}", subject=prim)
        name, fields = type(prim).__name__, prim.fields if prim.fields is not None else len(prim.args)
        for k, arg in enumerate(prim.args):
            free = free_indices(arg)
            if k >= fields:
                if free:
                    _fail(loss, f"{prim}: argument {k + 1} of {name} is a number (a parameter), free of c and i; "
                                f"{arg} is not", subject=prim, word=str(prim))
            elif free != INDICES and not (prim.scope == "unit" and free == INDICES[1:]):
                _fail(loss, f"{prim}: the field arguments of {name} are images, with free c and i (per-pixel values "
                            f"with free i for a selection over pixels), e.g. {name}(g[c, i]); {arg} is not",
                      subject=prim, word=str(prim))


def _domain_facts(symbols, declared: dict) -> dict:
    """Each Param as a dummy carrying the sign its declared domain gives it, for SymPy's assumptions."""
    facts = {}
    for sym in symbols:
        prm = declared[sym.name]
        lo, hi = prm.domain.inf, prm.domain.sup
        assume = {"real": True}
        if lo.is_finite and (lo > 0 or (lo == 0 and prm.domain.left_open)):
            assume["positive"] = True
        elif lo.is_finite and lo >= 0:
            assume["nonnegative"] = True
        elif hi.is_finite and (hi < 0 or (hi == 0 and prm.domain.right_open)):
            assume["negative"] = True
        elif hi.is_finite and hi <= 0:
            assume["nonpositive"] = True
        facts[sym] = sp.Dummy(prm.name, **assume)
    return facts


def _unbounded(prm) -> bool:
    return not prm.domain.inf.is_finite and not prm.domain.sup.is_finite


def _require_domains(loss: Loss, expr, what: str) -> None:
    """A parameter with no domain may not stand where its sign matters: in an exponent (a negative one
    is infinite where the base is 0), a denominator, a root, a log. Either bound it or the spec is refused."""
    declared = loss.param_map
    used = [s for s in expr.free_symbols if isinstance(s, Param) and isinstance(declared.get(s.name), Param)]
    free = [s for s in used if _unbounded(declared[s.name])]
    if not free:
        return
    facts = _domain_facts(used, declared)
    for node in sp.preorder_traversal(expr):
        role = None
        if isinstance(node, sp.Pow):
            base, exp = node.args
            signed_exp, signed_base = exp.xreplace(facts), base.xreplace(facts)
            in_exp = [prm for prm in free if prm in exp.free_symbols]
            in_base = [prm for prm in free if prm in base.free_symbols]
            if in_exp and not signed_exp.is_nonnegative and not signed_base.is_positive:
                role, where = "an exponent", in_exp
            elif in_base and not (signed_exp.is_integer and signed_exp.is_nonnegative):
                if not signed_exp.is_nonnegative and not signed_base.is_positive:
                    role, where = "a denominator" if signed_exp.is_integer else "the base of a power", in_base
                elif signed_exp.is_nonnegative and not signed_base.is_nonnegative:
                    role, where = "the base of a non-integer power", in_base
        elif isinstance(node, sp.log):
            if any(prm in node.args[0].free_symbols for prm in free) and not node.args[0].xreplace(facts).is_positive:
                role, where = "a logarithm", [prm for prm in free if prm in node.args[0].free_symbols]
        if role:
            prm = declared[sorted(where, key=lambda s: s.name)[0].name]
            line = prm.line if getattr(prm, "path", None) and _same_file(prm.path, loss.path) else None
            raise SpecError(
                f"the parameter {prm.name!r} has no domain, but its sign matters in {node} ({role}: a value of the "
                f"wrong sign makes the loss infinite or undefined); give it a domain, e.g. "
                f"Param({prm.name!r}, {float(prm.default)}, domain=(0, None))",
                path=loss.path, line=line or locate(loss, node))


def _same_file(a, b) -> bool:
    try:
        return Path(a).resolve() == Path(b).resolve()
    except OSError:
        return False


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
