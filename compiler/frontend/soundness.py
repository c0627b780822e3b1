"""What the compiler could not turn into code that runs and is right: refused here, at the spec's line.

Each check is one kind of formula that would otherwise build and then fail at every call (or return
NaN): an index used as a number, a function with no lowering, an undefined constant, a primitive the
compiler does not know or that is given something other than an image, a parameter with no domain where
its sign matters, a formula that the target alone makes infinite at every pixel outside (or inside) the
class, a formula that does not vary with the prediction. `check_formula` runs them all.
"""
from __future__ import annotations

import inspect
from pathlib import Path

import sympy as sp

from . import primitives
from .errors import SpecError
from .expand import collapse_constant_sums, free_indices, linearize
from .functions import ELEMENTWISE
from .language import INDICES, Param
from .source import locate, words_line


def refuse(loss, message: str, subject=None, word: str | None = None, keyword: str = "expr"):
    """Raise a SpecError at the line of `loss`'s file that wrote `subject` (or holds `word`)."""
    raise SpecError(message, path=loss.path, line=locate(loss, subject, keyword, text=word))


def check_formula(loss, expr, what: str) -> None:
    """Every check below, on one resolved formula (`what` names it: expr or mean_denominator)."""
    _check_vocabulary(loss, expr, what)
    _reject_index_values(loss, expr, what)
    _reject_undefined_constants(loss, expr, what)
    _check_primitives(loss, expr, what)
    _require_domains(loss, expr, what)
    _reject_target_poles(loss, expr, what)


def require_prediction(loss, expr) -> None:
    """A loss reads the prediction (p or x): a formula of constants, parameters or the target alone has no
    gradient to train with, nor the shape of a loss."""
    def reads(e) -> bool:
        return any(ind.base.name in ("p", "x", "p_all", "x_all") for ind in e.atoms(sp.Indexed))

    if not reads(expr):
        refuse(loss, f"expr = {expr} does not read the prediction: a loss is a formula of p[c, i] (or the logits "
                    f"x[c, i]) and the target g[c, i]", keyword="expr")
    if not reads(collapse_constant_sums(linearize(expr))):  # e.g. p[c, i] * Sum(0, i)
        refuse(loss, f"expr = {expr} is constant in the prediction once its sums are expanded: a loss must vary "
                    f"with p[c, i] (or the logits x[c, i])", keyword="expr")


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


def _check_vocabulary(loss, expr, what: str) -> None:
    """Every node is arithmetic, a sum, a field, a parameter, or a function the compiler lowers."""
    node = _outside_vocabulary(expr)
    if node is None:
        return
    head = getattr(node, "func", type(node)).__name__
    names = ", ".join(sorted({f.__name__ for f in ELEMENTWISE} | {"sqrt (a power)"}))
    refuse(loss, f"{what} uses {head} in {node}, which the compiler cannot lower: formulas are built from "
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


def _reject_index_values(loss, expr, what: str) -> None:
    """An index used as a value (Indicator(c), i * p[c, i]) has no meaning in the generated code, where
    classes and pixels are tensor axes: refused here, in one place."""
    found = (expr, expr) if expr in INDICES else index_used_as_value(expr)
    if found is None:
        return
    node, index = found
    role = "class" if index == INDICES[0] else "pixel"
    refuse(loss, f"{what} uses the {role} index {index} as a number in {node}: indices only index fields "
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


def _reject_undefined_constants(loss, expr, what: str) -> None:
    """A literal division by zero (or a difference that SymPy folds to 0 below a fraction bar) becomes
    zoo or nan: code for it could only fail or return NaN."""
    bad = [a for a in expr.atoms() if a in UNDEFINED]
    if not bad:
        return
    node = expr if expr in UNDEFINED else _smallest_holding(expr, set(UNDEFINED))
    shown = f"{what} is {node}" if node in UNDEFINED else f"{what} holds {node}"
    refuse(loss, f"{shown}, an infinite or undefined constant ({bad[0]}): a denominator is identically 0 (a "
                f"literal / 0, or a difference such as Sum(p, i) - Sum(p, i)) or a constant is infinite; "
                f"change the formula", subject=node)


def _with_pixel_target(expr, value):
    """`expr` with each pixel's own target g[c, i] (outside every sum) set to `value`."""
    if isinstance(expr, sp.Indexed):
        return sp.Integer(value) if expr.base.name in ("g", "g_all") else expr
    if isinstance(expr, sp.Sum) or not expr.args:
        return expr
    return expr.func(*[_with_pixel_target(a, value) for a in expr.args])


def _reject_target_poles(loss, expr, what: str) -> None:
    """A log, or a negative power, of a term that is 0 at every pixel outside the class (a factor g[c, i])
    or inside it (a factor 1 - g[c, i]), whatever the prediction: with class indices the formula is
    infinite at those pixels at every call. Where a ratio or a sum over pixels turns that infinity back
    into a number, its gradient is 0 times infinity (NaN), and a guard clamping the log would make it
    a finite wrong value; either way no code computes the spec."""
    for node in sp.preorder_traversal(expr):
        if isinstance(node, sp.log):
            base, role = node.args[0], "a logarithm"
        elif isinstance(node, sp.Pow) and node.exp.is_negative:
            base, role = node.base, "a denominator"
        else:
            continue
        for value, pixels in ((0, "outside the class (g[c, i] = 0)"), (1, "inside the class (g[c, i] = 1)")):
            if sp.expand(_with_pixel_target(base, value)) == 0:
                refuse(loss, f"{what} has {node}, {role} of {base}, which is 0 at every pixel {pixels} whatever "
                            f"the prediction: the formula is infinite there at every call. Weigh the term by "
                            f"the target instead (g[c, i] * log(p[c, i]), not log(g[c, i] * p[c, i])), or add a "
                            f"smoothing constant", subject=node)


def _check_primitives(loss, expr, what: str) -> None:
    """Each primitive is complete (a builtin, or one its spec defines with its three parts), and its field
    arguments are images (free c and i; per-pixel values with free i for a selection over a unit's pixels),
    its other arguments numbers."""
    for prim in sorted(expr.atoms(primitives.Primitive), key=sp.default_sort_key):
        missing = primitives.missing_parts(type(prim)) if type(prim).__module__ != primitives.__name__ else ""
        if missing:
            refuse(loss, f"the primitive {type(prim).__name__} {missing}", subject=prim)
        name, fields = type(prim).__name__, prim.fields if prim.fields is not None else len(prim.args)
        for k, arg in enumerate(prim.args):
            free = free_indices(arg)
            if k >= fields:
                if free:
                    refuse(loss, f"{prim}: argument {k + 1} of {name} is a number (a parameter), free of c and i; "
                                 f"{arg} is not", subject=prim, word=str(prim))
            elif free != INDICES and not (prim.scope == "unit" and free == INDICES[1:]):
                refuse(loss, f"{prim}: the arguments of {name} are images, with free c and i (per-pixel values "
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


def _require_domains(loss, expr, what: str) -> None:
    """A parameter with no domain may not stand where its sign matters: in an exponent (a negative one
    is infinite where the base is 0), a denominator, a root, a log. Either bound it or the spec is refused."""
    declared = loss.param_map
    used = [s for s in expr.free_symbols if isinstance(s, Param) and isinstance(declared.get(s.name), Param)]
    free = [s for s in used if _unbounded(declared[s.name])]
    if not free:
        return
    facts = _domain_facts(used, declared)
    for node in sp.postorder_traversal(expr):  # innermost first: the place where the sign first matters
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


def check_spec_primitives(loss) -> None:
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
