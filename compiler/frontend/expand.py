"""From a spec's symbolic formula to concrete, numerically evaluable expressions.

`resolve` inlines references to other specs; `concretize` fixes the number of classes and pixels,
unrolls every sum and names each entry by its free indices; `Evaluator` compiles the entries to
mpmath. The checker and the test oracle both stand on these, so there is one expansion of a spec,
never a second hand-written formula.
"""
from __future__ import annotations

import difflib
import itertools

import sympy as sp
from sympy.simplify.simplify import factor_sum

from .language import (C, C_all, CLASS_SETS, FIELDS, INDICES, Choice, ClassWeights, Param, Ref, c, choose, i, n,
                       scope_classes)
from .errors import SpecError


def resolve(expr: sp.Expr, registry: dict, _stack: tuple = ()) -> sp.Expr:
    """`expr` with every `ref(...)` replaced by the referenced formula, parameters bound, and every
    AllClasses term and class selection reading the fields over every class (scope_classes)."""

    def inline(r: Ref) -> sp.Expr:
        if r.target not in registry:
            close = difflib.get_close_matches(r.target, list(registry), n=1)
            hint = f"; did you mean ref({close[0]!r})?" if close else ""
            known = ", ".join(sorted(registry)) or "none"
            raise SpecError(f"ref({r.target!r}) names no registered loss{hint} (known: {known})", subject=r)
        if r.target in _stack:
            raise SpecError(f"ref cycle: {' -> '.join(_stack + (r.target,))}", subject=r)
        target = registry[r.target]
        params = target.param_map
        unknown = sorted(set(r.bindings) - set(params))
        if unknown:
            close = difflib.get_close_matches(unknown[0], list(params), n=1)
            hint = f"; did you mean {close[0]}=?" if close else ""
            raise SpecError(
                f"ref({r.target!r}) binds {unknown}, which {r.target} does not have{hint} "
                f"(its parameters: {', '.join(params) or 'none'})", subject=r,
            )
        body = resolve(target.expr, registry, _stack + (r.target,))
        picked = {k: v for k, v in r.bindings.items() if isinstance(params[k], Choice)}
        for k, v in picked.items():
            if not isinstance(v, sp.Symbol) or v.name not in params[k].options:
                raise SpecError(f"ref({r.target!r}) binds the choice {k} to {v}: write one of "
                                f"{', '.join(map(repr, params[k].options))}", subject=r)
        body = choose(body, {k: v.name for k, v in picked.items()})
        for k, v in r.bindings.items():  # class weights bound to one value: every class weighs it
            if isinstance(params[k], ClassWeights):
                if isinstance(v, sp.Symbol) and not v.is_real:
                    raise SpecError(f"ref({r.target!r}) binds the class weights {k} to {v}: bind a number "
                                    f"(every class weighs it), e.g. {k}=1", subject=r)
                base = params[k].base
                body = body.replace(lambda e: isinstance(e, sp.Indexed) and e.base == base, lambda e: v)
        return body.xreplace({params[k]: v for k, v in r.bindings.items() if isinstance(params[k], Param)})

    resolved = expr.replace(lambda e: isinstance(e, Ref), inline) if expr is not None else None
    return resolved if _stack else scope_classes(resolved)


def free_indices(expr: sp.Expr) -> tuple:
    """The indices (`c`, `i`, in that order) an expression leaves free."""
    return tuple(ix for ix in INDICES if ix in expr.free_symbols)


def granularity(loss, registry: dict) -> tuple[bool, bool]:
    """(per_class, per_pixel): which indices the loss leaves free."""
    free = free_indices(resolve(loss.expr, registry))
    return c in free, i in free


def unroll(expr: sp.Expr) -> sp.Expr:
    """Write every sum whose limits are numbers as an explicit addition."""

    def expand_sum(s: sp.Sum) -> sp.Expr:
        body = s.function
        for var, lo, hi in reversed(s.limits):
            body = sp.Add(*[body.xreplace({var: k}) for k in range(int(lo), int(hi) + 1)])
        return body

    return expr.replace(
        lambda e: isinstance(e, sp.Sum) and all(lim[1].is_Integer and lim[2].is_Integer for lim in e.limits),
        expand_sum,
    )


def collapse_constant_sums(expr: sp.Expr) -> sp.Expr:
    """Sum(k, (i, 0, n-1)) -> k*n for a summand free of the index; in a sum over several indices, each index
    the summand does not read becomes its count (Sum(k, (c, ...), (i, ...)) -> k*C*n)."""

    def collapse(s: sp.Sum) -> sp.Expr:
        kept, count = [], sp.S.One
        for var, lo, hi in s.limits:
            if var in s.function.free_symbols:
                kept.append((var, lo, hi))
            else:
                count *= hi - lo + 1
        return count * (sp.Sum(s.function, *kept) if kept else s.function)

    return expr.replace(
        lambda e: isinstance(e, sp.Sum) and any(lim[0] not in e.function.free_symbols for lim in e.limits),
        collapse,
    )


def split_sum(s: sp.Sum) -> sp.Expr:
    """One sum as a combination of sums of monomials, constants pulled out: Sum(p*(1-g)) -> Sum(p) - Sum(p*g)."""
    parts = sp.Sum(sp.expand(s.function), *s.limits).expand()
    parts = parts.replace(lambda e: isinstance(e, sp.Sum), factor_sum)
    return collapse_constant_sums(parts)


def linearize(expr: sp.Expr) -> sp.Expr:
    """Every sum split linearly (inner sums first)."""
    return expr.replace(lambda e: isinstance(e, sp.Sum), split_sum)


class FieldSymbol(sp.Symbol):
    """One concrete entry of a field, e.g. `p_0_3` for p[0, 3]."""


def field_symbol(base: str, k: int, j: int) -> FieldSymbol:
    return FieldSymbol(f"{base}_{k}_{j}", real=True)


class WeightSymbol(sp.Symbol):
    """One class's entry of a ClassWeights parameter, e.g. `weight_2`."""


def symbolize(expr: sp.Expr) -> sp.Expr:
    """Replace each concrete `p[k, j]` by a symbol `p_k_j`, and each class weight `w[k]` by `w_k`."""

    def name(e):
        if len(e.indices) == 1:
            return WeightSymbol(f"{e.base.name}_{int(e.indices[0])}", positive=True)
        return field_symbol(e.base.name, *map(int, e.indices))

    return expr.replace(lambda e: isinstance(e, sp.Indexed) and all(ix.is_Integer for ix in e.indices), name)


def concretize(expr: sp.Expr, classes: int, pixels: int, all_classes: int | None = None) -> dict[tuple, sp.Expr]:
    """The entries of `expr` at `classes` classes and `pixels` pixels, keyed by free-index values.

    A per-class formula gives keys `(k,)`, a per-pixel one `(j,)` or `(k, j)`, a scalar `()`.
    `all_classes` (default `classes`) is the count of every class, for AllClasses terms.
    """
    free = free_indices(expr)
    body = unroll(expr.xreplace({C: classes, n: pixels, C_all: all_classes or classes}))
    ranges = {c: range(classes), i: range(pixels)}
    entries = {}
    first = (all_classes or classes) - classes  # the classes out of scope come first (the background)
    for key in itertools.product(*(ranges[ix] for ix in free)):
        entry = unroll(body.xreplace(dict(zip(free, key))))
        entries[key] = symbolize(class_sets(entry, first))
    return entries


def class_sets(expr: sp.Expr, first: int) -> sp.Expr:
    """background[k] and foreground[k] at concrete classes k as 1 or 0; class k in scope is class
    k + first of every class (k itself inside AllClasses terms)."""

    def value(e):
        name = e.base.name
        wide = name.endswith("_all")
        is_background = int(e.indices[0]) + (0 if wide else first) == 0
        return sp.Integer(int(is_background if name.startswith("background") else not is_background))

    names = set(CLASS_SETS) | {f"{k}_all" for k in CLASS_SETS}
    return expr.replace(lambda e: isinstance(e, sp.Indexed) and e.base.name in names and e.indices[0].is_Integer,
                        value)


def parameters(expr: sp.Expr) -> list[sp.Symbol]:
    """Symbols that are neither fields nor indices nor sizes, sorted by name (Params and free claim symbols)."""
    skip = set(INDICES) | {C, n, C_all} | {ind.base.label for ind in expr.atoms(sp.Indexed)}
    syms = [s for s in expr.free_symbols if s not in skip and isinstance(s, sp.Symbol)]
    return sorted((s for s in syms if not isinstance(s, (FieldSymbol, WeightSymbol))), key=lambda s: s.name)


def param_value(symbol: sp.Symbol, rng) -> float:
    """A random value in a parameter's domain (or, for a plain symbol, in what its assumptions allow)."""
    if isinstance(symbol, Param):
        dom = symbol.domain
        lo = float(dom.inf) if dom.inf.is_finite else None
        hi = float(dom.sup) if dom.sup.is_finite else None
    else:
        lo = 0.0 if (symbol.is_nonnegative or symbol.is_positive) else None
        hi = None
    if lo is None and hi is None:
        lo, hi = -3.0, 3.0
    elif lo is None:
        lo = hi - 3.0
    elif hi is None:
        hi = lo + 3.0
    return float(rng.uniform(lo, hi))
