"""Lowering: a resolved formula, for one activation, becomes straight-line tensor code.

split polynomial sums into shared statistics -> activate (p -> sigmoid(x) | softmax | p) ->
rewrite (canonicalize, stabilize) -> guard -> sums become reductions (masked only where an ignored
pixel could contribute) -> fields become tensors -> fold sigmoid(x) back to p -> CSE.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import sympy as sp

from ..frontend.errors import SpecError
from ..frontend.language import ALL_FIELDS, C, CLASS_SETS, C_all, Param, c, choose, g, i, n, p, x
from ..frontend.expand import collapse_constant_sums, linearize, resolve
from ..frontend.functions import sigmoid
from .ir import (CLASSES, Const, FIELD_TENSOR, N_ALL_CLASSES, N_CLASSES, N_PIXELS, PIXELS, PIXELS_MASKED, SOFTMAX,
                 SOFTMAX_ALL, TENSORS, ClassSlice, PixelCount, PrimitiveField, PrimitiveTensor, ReduceSum, TensorVar,
                 counts_pixels, is_tensor)
from ..frontend.primitives import Primitive
from .rules import fuse_lovasz_sums, guard, rewrite, specialize
from .statistics import share_statistics

ACTIVATIONS = ("sigmoid", "softmax", "none")


@dataclass
class Lowered:
    """Straight-line code for one activation (and one value of each Choice): temporaries, the
    outputs (`loss`, and `mean_denominator` if the spec weighs its mean), and the fields they read."""

    activation: str
    temps: list = field(default_factory=list)  # [(symbol, expr)]
    outputs: dict = field(default_factory=dict)  # name -> expr
    fields: tuple = ()  # tensors the code reads: subset of x, p, g, logp, log1mp
    weights: tuple = ()  # (name, source) of each class vector the code reads: class weights, class sets
    rules: list = field(default_factory=list)
    maps: list = field(default_factory=list)  # [(name, primitive over tensors)]: target maps, or dist_map=


def activate(expr: sp.Expr, activation: str) -> sp.Expr:
    """The formula with the predicted probability written in terms of the logits."""
    p_all, x_all = ALL_FIELDS["p"], ALL_FIELDS["x"]
    if activation == "sigmoid":
        expr = expr.xreplace({p[c, i]: sigmoid(x[c, i])})
        return expr.replace(lambda e: isinstance(e, sp.Indexed) and e.base == p_all,
                            lambda e: sigmoid(x_all[e.indices]))
    if activation == "softmax":
        expr = expr.xreplace({p[c, i]: SOFTMAX[c, i]})
        return expr.replace(lambda e: isinstance(e, sp.Indexed) and e.base == p_all,
                            lambda e: SOFTMAX_ALL[e.indices])
    return expr


def vanishes_off_target(body: sp.Expr) -> bool:
    """True if the summand is zero wherever the target is zero (e.g. at every ignored pixel).

    Reductions and primitives inside the summand are not pixel values of g: they are held fixed.
    """
    held = {r: sp.Dummy() for r in body.atoms(ReduceSum) | body.atoms(Primitive)}
    targets = {ind: 0 for ind in body.atoms(sp.Indexed) if ind.base in (g, ALL_FIELDS["g"])}
    return sp.expand(body.xreplace(held).xreplace(targets)) == 0


def to_reductions(expr: sp.Expr) -> sp.Expr:
    """Sum over i -> ReduceSum over pixels (masked unless the summand vanishes off target); over c -> classes.
    A summand that does not read the index is a count times the summand, not a reduction."""
    expr = collapse_constant_sums(expr)

    def reduce(s: sp.Sum) -> sp.Expr:
        body = s.function
        for var, _, _ in s.limits:  # SymPy merges Sum(Sum(f, i), c) into one Sum; the first limit is innermost
            if var == c:
                body = ReduceSum(body, CLASSES)
            else:
                body = ReduceSum(body, PIXELS if vanishes_off_target(body) else PIXELS_MASKED)
        return body

    return expr.replace(lambda e: isinstance(e, sp.Sum), reduce)


def _tensor(e: sp.Indexed) -> sp.Expr:
    if isinstance(e.base, PrimitiveField):
        return PrimitiveTensor(e.base.name)
    if len(e.indices) == 1:
        return TensorVar(e.base.name)
    t = TENSORS[FIELD_TENSOR[e.base.name]]
    return ClassSlice(t, e.indices[0]) if e.indices[0].is_Integer else t


def to_tensors(expr: sp.Expr) -> sp.Expr:
    """Indexed fields -> tensors (one class of them for p[0, i]), class vectors w[c] -> tensor w; sizes ->
    run-time counts."""
    expr = expr.replace(
        lambda e: isinstance(e, sp.Indexed) and (e.base.name in FIELD_TENSOR or len(e.indices) == 1
                                                 or isinstance(e.base, PrimitiveField)),
        _tensor,
    )
    return expr.xreplace({n: N_PIXELS, C: N_CLASSES, C_all: N_ALL_CLASSES})


def common_subexpressions(exprs: list, reserved: set) -> tuple[list, list]:
    """CSE with canonical ordering; temporaries named t0, t1, ... and typed as tensors where they are."""
    names = (f"t{k}" for k in range(10**6))
    pairs, finals = sp.cse(exprs, symbols=(sp.Symbol(nm) for nm in names if nm not in reserved), order="canonical")
    from .ir import TENSORS

    temps, renames = [], {}
    predicted = set(TENSORS.values()) - {TENSORS["g"]}  # fields and temporaries that read the prediction
    for sym, value in pairs:
        value = value.xreplace(renames)
        if value.is_Atom or (-value).is_Atom:  # a temporary that only renames or negates: inline it
            renames[sym] = value
            continue
        value, target = _target_factor(value, predicted)
        typed = (TensorVar(sym.name) if is_tensor(value) else PixelCount(sym.name, real=True) if counts_pixels(value)
                 else sp.Symbol(sym.name, real=True))
        if value.free_symbols & predicted:
            predicted.add(typed)
        renames[sym] = typed * target
        temps.append((typed, value))
    return temps, [f.xreplace(renames) for f in finals]


def _target_factor(value: sp.Expr, predicted: set) -> tuple[sp.Expr, sp.Expr]:
    """(rest, g) where a temporary is g times a field of the prediction (one reading a symbol of
    `predicted`), else (value, 1). The target
    stays with the uses, where it meets the other factors that carry no gradient first (a class mask
    times g, then the field): a class vector times a field on the gradient path is a broadcast in
    both passes, which Paddle's CPU runs ten times slower than a product of equal shapes."""
    from .ir import TENSORS

    g = TENSORS["g"]
    if not isinstance(value, sp.Mul) or g not in value.args:
        return value, sp.S.One
    rest = value / g
    return (rest, g) if rest.free_symbols & predicted and not rest.has(g) else (value, sp.S.One)


def target_maps(loss, registry: dict) -> list:
    """Image-scope primitives that read only the target (distance maps of g), in a fixed order: these
    are what `dist_map=` can supply, computed once in the data pipeline."""
    found = set()
    for expr in (loss.expr, loss.mean_denominator):
        if expr is None:
            continue
        for prim in resolve(expr, registry).atoms(Primitive):
            bases = {ind.base.name for ind in prim.atoms(sp.Indexed)}
            parameters = [s for s in prim.free_symbols if isinstance(s, Param)]
            if prim.scope == "image" and bases == {"g"} and not parameters:
                found.add(prim)
    return sorted(found, key=sp.default_sort_key)


def map_names(maps: list) -> dict:
    """Each target map's tensor in the generated code: dist0, dist1, ..."""
    return {prim: PrimitiveTensor(f"dist{k}") for k, prim in enumerate(maps)}


def primitives_as_fields(expr: sp.Expr, maps: dict) -> tuple[sp.Expr, list]:
    """Each outermost primitive replaced by a field [c, i] (a target map by its `dist<k>`, any other by
    `prim<k>`), so that no pass treats its per-pixel value as a constant of a pixel sum; returns the new
    formula and [(tensor, primitive)] for the ones to compute in place."""
    computed: list = []

    def visit(e):
        if isinstance(e, Primitive):
            if e in maps:
                return PrimitiveField(maps[e].name)[c, i]
            for name, prim in computed:
                if prim == e:
                    return PrimitiveField(name)[c, i]
            name = f"prim{len(computed)}"
            computed.append((name, e))
            return PrimitiveField(name)[c, i]
        if not e.args or not e.has(Primitive):
            return e
        return e.func(*[visit(a) for a in e.args])

    return visit(expr), computed


def _undefined(expr: sp.Expr) -> bool:
    return expr.has(sp.nan, sp.zoo, sp.oo, -sp.oo)


def lower_formula(expr: sp.Expr, activation: str, optimize: bool, maps: dict | None = None) -> tuple[sp.Expr, list[str]]:
    """One resolved, chosen formula down to the tensor IR (before CSE)."""
    fired: list[str] = []
    expr, computed = primitives_as_fields(expr, maps or {})
    if optimize:
        expr = share_statistics(expr)  # before p becomes sigmoid(x), while sums are polynomials in p
        if _undefined(expr) or _undefined(linearize(expr)):  # a split the pass did not take may still cancel
            raise SpecError("the formula divides by a sum that is identically zero once its sums are expanded "
                            "(e.g. Sum(p*g, i) + Sum(p*(1 - g), i) - Sum(p, i)): change the formula")
        expr, fired = rewrite(activate(expr, activation))
    else:
        expr = activate(expr, activation)
    expr, guards = guard(expr)
    expr = to_tensors(to_reductions(expr))
    kernels: list[str] = []
    if optimize:
        expr, kernels = specialize(expr)
    if activation == "sigmoid":
        expr = expr.xreplace({sigmoid(TENSORS["x"]): TENSORS["p"], sigmoid(TENSORS["x_all"]): TENSORS["p_all"]})
    rules = fired + guards + kernels
    values = {}
    for name, prim in computed:  # each primitive in place, its arguments lowered like any formula
        args = []
        for arg in prim.args:
            lowered, arg_rules = lower_formula(arg, activation, optimize, maps)
            args.append(lowered)
            rules += [r for r in arg_rules if r not in rules]
        values[PrimitiveTensor(name)] = prim.func(*args)
    expr = expr.xreplace(values)
    if optimize:
        expr, fused = fuse_lovasz_sums(expr)
        rules += fused
    if _undefined(expr):
        raise SpecError("the formula lowers to an undefined or infinite constant (a division by zero): change it",
                        internal=True)
    return expr, rules


def lower(loss, registry: dict, activation: str, choices: dict | None = None, optimize: bool = True,
          fixed: dict | None = None) -> Lowered:
    """Lower one spec for one activation and one option of each Choice. `optimize=False` gives the
    literal translation (no shared statistics, no stability rewrites, no CSE); `fixed` binds
    parameters to values (a specialisation, e.g. label_smoothing=0)."""
    choices = choices or {ch.name: ch.default for ch in loss.choices}
    fixed = fixed or {}
    outputs = {"loss": choose(resolve(loss.expr, registry), choices).xreplace(fixed)}
    if loss.mean_denominator is not None:
        outputs["mean_denominator"] = choose(resolve(loss.mean_denominator, registry), choices).xreplace(fixed)
    fired: list[str] = []
    maps = map_names(target_maps(loss, registry))
    for name, expr in outputs.items():
        outputs[name], rules = lower_formula(expr, activation, optimize, maps)
        fired += [r for r in rules if r not in fired]
    if not is_tensor(outputs["loss"]):
        raise SpecError("the formula is constant in the prediction once its sums are expanded and shared: a loss "
                        "must vary with p[c, i] (or the logits x[c, i])")
    reserved = {prm.name for prm in loss.params}
    if optimize:
        temps, finals = common_subexpressions(list(outputs.values()), reserved)
        outputs = dict(zip(outputs, finals))
    else:
        temps = []
    used = set().union(*(v.free_symbols for _, v in temps), *(e.free_symbols for e in outputs.values()))
    temps = [(sym, mark_constants(v)) for sym, v in temps]
    outputs = {k: mark_constants(v) for k, v in outputs.items()}
    dist = [(v.name, to_tensors(prim)) for prim, v in maps.items()] if set(maps.values()) & used else []
    used |= set().union(*(e.free_symbols for _, e in dist))
    fields = tuple(nm for nm in TENSORS if TENSORS[nm] in used)
    return Lowered(activation, temps, outputs, fields, class_vectors(loss, used), fired, dist)


def class_vectors(loss, used: set) -> tuple:
    """(tensor name, how the code gets it) for each class vector the code reads: class weights and
    class sets, in scope or over every class (their *_all form)."""
    found = []
    for w in loss.weights:
        # every class first: the in-scope line rebinds the argument's name to its tensor
        for name, every in ((f"{w.name}_all", ", every=True"), (w.name, "")):
            if TensorVar(name) in used:
                found.append((name, f"ctx.class_weights({w.name!r}, {w.name}{every})"))
    for k in CLASS_SETS:
        for name, every in ((k, ""), (f"{k}_all", ", every=True")):
            if TensorVar(name) in used:
                found.append((name, f"ctx.class_set({k!r}{every})"))
    return tuple(found)


def _exact_in_float32(e: sp.Expr) -> bool:
    return e.is_Number and float(e) == float(np.float32(float(e)))


def mark_constants(expr: sp.Expr) -> sp.Expr:
    """Wrap the scalar (non-tensor) terms and factors of tensor sums and products in Const, unless
    they are numbers that float32 holds exactly."""
    if expr.is_Atom:
        return expr
    args = [mark_constants(a) for a in expr.args]
    if isinstance(expr, (sp.Add, sp.Mul)) and is_tensor(expr):
        args = [a if is_tensor(a) or _exact_in_float32(a) else Const(a) for a in args]
        return expr.func(*args, evaluate=False)
    return expr.func(*args) if args != list(expr.args) else expr
