"""Rewrite rules, kept as data: each is a pattern, its replacement, and a one-line algebra note.

Phases run in order, each to a fixpoint: `canonicalize` recognises hand-written forms,
`stabilize` replaces unstable forms by exact stable ones. Every exact rule is an identity that
the tests prove (`simplify((lhs - rhs).rewrite(exp)) == 0`). `guard` clamps what no exact rule
can make safe (the log or fractional power of something that may round to zero); guards are not
identities and say so.
"""
from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

from ..frontend.language import c, i
from ..frontend.errors import SpecError
from ..frontend.functions import log1p, log_cosh, sigmoid, softplus
from ..frontend.primitives import LovaszWeights
from .ir import (LOG1M_SOFTMAX, LOG1M_SOFTMAX_ALL, LOG_SOFTMAX, LOG_SOFTMAX_ALL, PIXELS, PIXELS_MASKED, SOFTMAX,
                 SOFTMAX_ALL, TENSORS, Clamp, LovaszAbsSum, LovaszHingeSum, LovaszSum, ReduceSum, is_tensor)

z = sp.Wild("z")
k = sp.Wild("k")  # a class: the index c, or one named class (p[0, i])
# Smallest value a guarded log or fractional power sees: the compute dtype's smallest normal
# number (ctx.tiny in the generated code), so a clamp never changes a representable value.
EPS = sp.Symbol("tiny", positive=True)


@dataclass(frozen=True)
class Rule:
    name: str
    phase: str
    lhs: sp.Expr
    rhs: sp.Expr
    algebra: str

    def apply(self, expr: sp.Expr) -> sp.Expr:
        """Replace every match; cheap tests first (the heads the pattern needs), SymPy's matcher last."""
        heads = self._heads
        if not all(expr.has(head) for head in heads):
            return expr
        kind = type(self.lhs)

        def matches(e) -> bool:
            return isinstance(e, kind) and all(e.has(h) for h in heads) and e.match(self.lhs) is not None

        try:
            return expr.replace(matches, lambda e: self.rhs.xreplace(e.match(self.lhs)))
        except ValueError as err:  # SymPy's Max and Min refuse an argument the rewrite shows is not real
            if "not comparable" not in str(err):
                raise
            raise SpecError(f"the formula takes Max or Min of a value that is real for no prediction ({err}: "
                            f"e.g. log(log(p[c, i])), the log of a negative number): change the formula") from None

    @property
    def _heads(self) -> set:
        functions = {type(f) for f in self.lhs.atoms(sp.Function)}
        bases = {ind.base for ind in self.lhs.atoms(sp.Indexed)}
        return functions | bases

    def obligation(self, y: sp.Symbol) -> tuple[sp.Expr, sp.Expr]:
        """The identity this rule relies on, instantiated at a real symbol `y`."""
        if self.lhs.has(SOFTMAX) or self.lhs.has(SOFTMAX_ALL):  # the softmax rules, written out for two classes
            y1 = sp.Symbol(f"{y.name}_1", real=True)
            total = sp.exp(y) + sp.exp(y1)
            if self.rhs.has(LOG1M_SOFTMAX) or self.rhs.has(LOG1M_SOFTMAX_ALL):
                return sp.log(1 - sp.exp(y) / total), y1 - sp.log(total)
            return sp.log(sp.exp(y) / total), y - sp.log(total)
        return self.lhs.xreplace({z: y}), self.rhs.xreplace({z: y})


RULES = (
    # ******** canonicalize: recognise forms written by hand ********
    Rule("recognize_sigmoid", "canonicalize", 1 / (1 + sp.exp(-z)), sigmoid(z), "1/(1 + e^-z) -> sigmoid(z)"),
    Rule("recognize_sigmoid_ratio", "canonicalize", sp.exp(z) / (1 + sp.exp(z)), sigmoid(z),
         "e^z/(1 + e^z) -> sigmoid(z)"),
    Rule("recognize_softplus", "canonicalize", sp.log(1 + sp.exp(z)), softplus(z), "log(1 + e^z) -> softplus(z)"),
    # ******** stabilize: exact forms that neither overflow nor lose the tail ********
    Rule("log_sigmoid", "stabilize", sp.log(sigmoid(z)), -softplus(-z), "log(sigmoid(z)) -> -softplus(-z)"),
    Rule("one_minus_sigmoid", "stabilize", 1 - sigmoid(z), sigmoid(-z), "1 - sigmoid(z) -> sigmoid(-z)"),
    Rule("log_softmax", "stabilize", sp.log(SOFTMAX[c, i]), LOG_SOFTMAX[c, i],
         "log(softmax(x)_c) -> x_c - logsumexp(x)"),
    Rule("log1m_softmax", "stabilize", sp.log(1 - SOFTMAX[c, i]), LOG1M_SOFTMAX[c, i],
         "log(1 - softmax(x)_c) -> logsumexp_{k != c}(x_k) - logsumexp(x)"),
    Rule("log_softmax_all", "stabilize", sp.log(SOFTMAX_ALL[k, i]), LOG_SOFTMAX_ALL[k, i],
         "the same over every class (AllClasses terms, class selections)"),
    Rule("log1m_softmax_all", "stabilize", sp.log(1 - SOFTMAX_ALL[k, i]), LOG1M_SOFTMAX_ALL[k, i],
         "the same over every class (AllClasses terms, class selections)"),
    Rule("log_cosh", "stabilize", sp.log(sp.cosh(z)), log_cosh(z),
         "log(cosh z) -> log_cosh(z): |z| + softplus(-2|z|) - log 2 where |z| >= 1, log1p(2 sinh(z/2)^2) below"),
)

PHASES = ("canonicalize", "stabilize")


def _less_one(e: sp.Expr):
    """e - 1 where e is a sum with the literal term 1 (1 + z, 1 - t), else None. A Wild pattern 1 + z
    would match any expression, as z = e - 1."""
    return e - 1 if isinstance(e, sp.Add) and sp.S.One in e.args else None


def _one_plus(e) -> bool:
    """log(1 + z) with z >= 0."""
    z = _less_one(e.args[0]) if isinstance(e, sp.log) else None
    return z is not None and z.is_nonnegative is True


def log_one_plus(expr: sp.Expr) -> sp.Expr:
    """log(1 + z) -> log1p(z) for z >= 0: 1 + z rounds away z's digits where z is small (z = 1e-10 keeps
    six of them in float64), log1p keeps them; z >= 0 keeps it finite with no guard. A rule's pattern
    log(1 + z) would match every log (log(p) as z = p - 1), so this one looks for the literal 1
    (_less_one)."""
    if not expr.has(sp.log):
        return expr
    return expr.replace(_one_plus, lambda e: log1p(e.args[0] - 1))


def rewrite(expr: sp.Expr, phases=PHASES, max_rounds: int = 20) -> tuple[sp.Expr, list[str]]:
    """Run each phase's rules to a fixpoint; return the result and the names of rules that fired."""
    fired: list[str] = []
    for phase in phases:
        rules = [r for r in RULES if r.phase == phase]
        for _ in range(max_rounds):
            before = expr
            for rule in rules:
                after = rule.apply(expr)
                if after != expr:
                    fired.append(rule.name)
                    expr = after
            if phase == "stabilize":
                after = log_one_plus(expr)
                if after != expr:
                    fired.append("log1p")
                    expr = after
            if expr == before:
                break
    return expr, sorted(set(fired), key=fired.index)


# ******** guard: clamps where no exact rule applies ********

def _has_field(e: sp.Expr) -> bool:
    """Whether `e` reads a field outside primitives (which are constants of the gradient)."""
    from ..frontend.primitives import Primitive
    from .ir import PrimitiveField

    if isinstance(e, sp.Indexed):
        return not isinstance(e.base, PrimitiveField)
    constant = isinstance(e, Primitive) and not e.differentiable
    return not constant and any(_has_field(a) for a in e.args)


# The fields of the prediction, after activation: the logits, p, the softmax and its logs.
PREDICTIONS = frozenset({"p", "x", "p_all", "x_all"} | {b.name for b in (
    SOFTMAX, SOFTMAX_ALL, LOG_SOFTMAX, LOG_SOFTMAX_ALL, LOG1M_SOFTMAX, LOG1M_SOFTMAX_ALL)})


def _reads_prediction(e: sp.Expr) -> bool:
    """Whether `e` reads the prediction's fields (PREDICTIONS; primitives' maps are constants)."""
    from .ir import PrimitiveField

    return any(not isinstance(ind.base, PrimitiveField) and ind.base.name in PREDICTIONS
               for ind in e.atoms(sp.Indexed))


def _needs_clamp_log(e) -> bool:
    """A log of the prediction's fields, which may round to 0 where their exact value does not. A log of
    the target alone is exact: -inf at a 0, as the formula says (clamped, a finite wrong value)."""
    return (isinstance(e, sp.log) and _has_field(e.args[0]) and not isinstance(e.args[0], Clamp)
            and _reads_prediction(e.args[0]))


def _clamped_log(e):
    """log(Clamp(t, EPS)) for a log of the prediction; a factor of the target alone stays outside the
    clamp, exact: log(w t) = log(w) + log(Clamp(t)), -inf where w = 0 as the formula says (the whole
    product clamped gave log(EPS) there, a finite wrong value where the -inf makes a ratio 0). A pixel's
    own g or 1 - g as w is refused before (soundness._reject_target_poles); this keeps, e.g., an absent
    class's Sum(g[c, i], i) or a map's zeros exact."""
    factors = sp.Mul.make_args(e.args[0])
    exact = [f for f in factors if _has_field(f) and not _reads_prediction(f)]
    if not exact:
        return sp.log(Clamp(e.args[0], EPS))
    rest = sp.Mul(*[f for f in factors if f not in exact])
    return sp.Add(*[sp.log(f) for f in exact]) + sp.log(Clamp(rest, EPS))


def _needs_clamp_pow(e) -> bool:
    return (isinstance(e, sp.Pow) and not e.exp.is_Integer and _has_field(e.base)
            and not isinstance(e.base, Clamp))


def guard(expr: sp.Expr) -> tuple[sp.Expr, list[str]]:
    """Clamp the argument of each remaining log of the prediction, and the base of each non-integer power,
    at EPS."""
    fired = []
    if expr.has(sp.log) and any(_needs_clamp_log(e) for e in sp.preorder_traversal(expr)):
        expr = expr.replace(_needs_clamp_log, _clamped_log)
        fired.append("clamp_log")
    if any(_needs_clamp_pow(e) for e in sp.preorder_traversal(expr)):
        expr = expr.replace(_needs_clamp_pow, lambda e: sp.Pow(Clamp(e.base, EPS), e.exp))
        fired.append("clamp_power")
    return expr, fired


# ******** specialize: fused Paddle kernels, matched on the tensor IR ********
# Each replaces a lowered expression by a kernel whose definition it is; tests/test_rules.py checks
# every kernel against the expression it replaces, on hard and soft targets.

def _split_factor(term: sp.Expr, factor: sp.Expr):
    """term / factor if `factor` divides the product `term` exactly once, else None."""
    factors = sp.Mul.make_args(term)
    if factors.count(factor) != 1:
        return None
    return sp.Mul(*[f for f in factors if f != factor])


def _fields_free(e: sp.Expr) -> bool:
    """Whether `e` is the same at every pixel (a class weight or a scalar), as a fused kernel's weight must be."""
    from .ir import TENSORS, PrimitiveTensor

    return not (e.free_symbols & set(TENSORS.values())) and not e.atoms(PrimitiveTensor)


def _prediction_free(e: sp.Expr) -> bool:
    """Whether `e` reads neither the prediction nor the target: a number, a class weight or a primitive's
    map. A binary cross-entropy kernel takes such weights per pixel (it multiplies by them)."""
    from .ir import TENSORS

    return not (e.free_symbols & set(TENSORS.values()))


def _cross_entropy(e):
    """ReduceSum(w * g * logp, classes) -> -SoftmaxCrossEntropy(w) (over every class: -SoftmaxCrossEntropyAll(w))."""
    from .ir import CLASSES, TENSORS, ReduceSum, SoftmaxCrossEntropy, SoftmaxCrossEntropyAll

    if not (isinstance(e, ReduceSum) and e.args[1] == CLASSES):
        return None
    for suffix, kernel in (("", SoftmaxCrossEntropy), ("_all", SoftmaxCrossEntropyAll)):
        rest = _split_factor(e.args[0], TENSORS["logp" + suffix])
        rest = _split_factor(rest, TENSORS["g" + suffix]) if rest is not None else None
        if rest is None or not _fields_free(rest):
            continue
        # the kernel takes class weights (a tensor); a scalar factor multiplies its result
        weight, scale = sp.S.One, sp.S.One
        for factor in sp.Mul.make_args(rest):
            if is_tensor(factor):
                weight *= factor
            else:
                scale *= factor
        return -scale * kernel(weight)
    return None


def _binary_cross_entropy(e):
    """a g softplus(-x) + b (1 - g) softplus(x) -> SigmoidBCE(a, b), or SigmoidBCE(a) when b = 1."""
    from .ir import TENSORS, SigmoidBCE

    if not isinstance(e, sp.Add) or len(e.args) != 2:
        return None
    x, g = TENSORS["x"], TENSORS["g"]
    for first, second in (e.args, e.args[::-1]):
        positive = _split_factor(first, softplus(-x))
        negative = _split_factor(second, softplus(x))
        if positive is None or negative is None:
            continue
        a = _split_factor(positive, g)
        b = sp.S.One if sp.expand(negative - (1 - g)) == 0 else _split_factor(negative, 1 - g)
        if a is not None and b is not None and _prediction_free(a) and _prediction_free(b):
            return SigmoidBCE(a) if b == 1 else SigmoidBCE(a, b)
    return None


def _sigmoid_focal(e):
    """a g sigmoid(-x)^gamma softplus(-x) + b (1 - g) sigmoid(x)^gamma softplus(x) -> SigmoidFocal(gamma,
    a, b): gamma a number or parameter, a and b free of the fields (the sigmoids' powers may carry
    the guard clamp, which the kernel does not need: it never divides by the sigmoid)."""
    from .ir import TENSORS, Clamp, SigmoidFocal

    if not isinstance(e, sp.Add) or len(e.args) != 2:
        return None
    x, g = TENSORS["x"], TENSORS["g"]

    def split(term, sign, label):
        """(weight, gamma) of weight * label * sigmoid(sign x)^gamma * softplus(sign x), or None."""
        rest = _split_factor(term, softplus(sign * x))
        rest = _split_factor(rest, label) if rest is not None else None
        if rest is None:
            return None
        for factor in sp.Mul.make_args(rest):
            base, gamma = factor.as_base_exp()
            if isinstance(base, Clamp):
                base = base.args[0]
            if base == sigmoid(sign * x) and _fields_free(gamma):
                weight = _split_factor(rest, factor)
                if weight is not None and _prediction_free(weight):
                    return weight, gamma
        return None

    for first, second in (e.args, e.args[::-1]):
        positive, negative = split(first, -1, g), split(second, 1, 1 - g)
        if positive is None or negative is None or positive[1] != negative[1]:
            continue
        return SigmoidFocal(positive[1], positive[0], negative[0])
    return None


def _softmax_bce(e):
    """-(a g logp + b (1 - g) log1mp) -> SoftmaxBCE(a, b), a and b free of the fields; other terms stay."""
    from .ir import TENSORS, SoftmaxBCE

    if not isinstance(e, sp.Add):
        return None
    g, logp, log1mp = TENSORS["g"], TENSORS["logp"], TENSORS["log1mp"]
    positive = negative = None
    for term in e.args:
        rest = _split_factor(term, logp)
        rest = _split_factor(rest, g) if rest is not None else None
        if positive is None and rest is not None and _prediction_free(rest):
            positive = term, -rest
            continue
        rest = _split_factor(term, log1mp)
        if negative is None and rest is not None:
            for complement, sign in ((1 - g, -1), (g - 1, 1)):
                weight = _split_factor(rest, complement)
                if weight is not None and _prediction_free(weight):
                    negative = term, sign * weight
                    break
    if positive is None or negative is None:
        return None
    others = [t for t in e.args if t is not positive[0] and t is not negative[0]]
    return sp.Add(SoftmaxBCE(positive[1], negative[1]), *others)


def _weighted_softmax_bce(e):
    """w * SoftmaxBCE(a, b) -> SoftmaxBCE(w a, w b), w prediction-free and reading a tensor (a map, a class
    weight): the kernel weighs each element as it computes it, where Paddle would broadcast an (N, C, 1)
    statistic onto the whole field, forward and backward (shape-aware's 1 + E)."""
    from .ir import SoftmaxBCE

    if not isinstance(e, sp.Mul):
        return None
    kernels = [f for f in e.args if isinstance(f, SoftmaxBCE)]
    if len(kernels) != 1:
        return None
    weight = _split_factor(e, kernels[0])
    if weight is None or not is_tensor(weight) or not _prediction_free(weight):
        return None
    a, b = kernels[0].args
    return SoftmaxBCE(weight * a, weight * b)


def _target_sum(e):
    """ReduceSum(g * t, pixels) -> TargetSum(t); ReduceSum(g * (1 - t), pixels) -> MissedSum(t);
    ReduceSum((1 - g) * t, pixels) -> ComplementSum(t); ReduceSum((1 - g) * (1 - t), pixels) ->
    RejectedSum(t); ReduceSum(g, pixels) -> TargetCount(PIXELS); ReduceSum(1 - g, valid pixels) ->
    ComplementCount(PIXELS). t is a tensor expression (it may read g: g (g - p)^2
    is still a sum at each pixel's target class)."""
    from .ir import (PIXELS, PIXELS_MASKED, TENSORS, ComplementCount, ComplementSum, MissedSum, ReduceSum,
                     RejectedSum, TargetCount, TargetSum, is_tensor)

    if not (isinstance(e, ReduceSum) and e.args[1] in (PIXELS, PIXELS_MASKED)):
        return None
    g, body = TENSORS["g"], e.args[0]
    if body == g and e.args[1] == PIXELS:
        return TargetCount(PIXELS)
    if sp.expand(body - (1 - g)) == 0:
        return ComplementCount(PIXELS)

    def kernel_of(rest):
        return rest is not None and not rest.has(ReduceSum) and is_tensor(rest)

    rest = _split_factor(body, g) if e.args[1] == PIXELS else None
    if kernel_of(rest):
        missed = _one_minus(rest)  # g (1 - t): the target's mass t misses
        return MissedSum(missed) if kernel_of(missed) else TargetSum(rest)
    for complement, sign in ((1 - g, 1), (g - 1, -1)):
        rest = _split_factor(body, complement)
        if kernel_of(rest):  # (1 - g) is 1 at an ignored pixel: the kernel sums the valid pixels only
            missed = _one_minus(rest)  # (1 - g) (1 - t): what t rightly leaves out
            return sign * (RejectedSum(missed) if kernel_of(missed) else ComplementSum(rest))
    return None


def _one_minus(e: sp.Expr):
    """t where e is 1 - t, else None. sigmoid(-x) is 1 - p for the sigmoid probabilities p =
    sigmoid(x) (one_minus_sigmoid wrote it so): the runtime sums 1 - p for them as sigmoid(-x)."""
    from .ir import TENSORS

    for x in (TENSORS["x"], TENSORS["x_all"]):
        if e == sigmoid(-x):
            return sigmoid(x)
    missed = _less_one(e)
    return None if missed is None else -missed


def _target_weight(e):
    """ReduceSum(w * g, classes) -> TargetWeight(w), w a class-weight tensor."""
    from .ir import CLASSES, TENSORS, ReduceSum, TargetWeight, TensorVar

    if not (isinstance(e, ReduceSum) and e.args[1] == CLASSES):
        return None
    rest = _split_factor(e.args[0], TENSORS["g"])
    if rest is None or not isinstance(rest, TensorVar) or not _fields_free(rest):
        return None
    return TargetWeight(rest)


def _squared_error(e):
    """(g - t)^2 -> SquaredError(t), t a tensor read in the prediction (a number or the target alone
    keeps no field of its own)."""
    from .ir import TENSORS, SquaredError, is_tensor

    if not (isinstance(e, sp.Pow) and e.exp == 2):
        return None
    g = TENSORS["g"]
    for t in (g - e.base, e.base + g):  # (g - t)^2 and (t - g)^2
        if is_tensor(t) and not _prediction_free(t) and not t.has(g):
            return SquaredError(t)
    return None


KERNELS = (("softmax_cross_entropy", _cross_entropy), ("sigmoid_focal", _sigmoid_focal),
           ("sigmoid_bce", _binary_cross_entropy), ("squared_error", _squared_error),
           ("target_weight", _target_weight), ("softmax_bce", _softmax_bce),
           ("weighted_softmax_bce", _weighted_softmax_bce), ("target_sum", _target_sum))


def fuse_lovasz_sums(expr: sp.Expr) -> tuple[sp.Expr, list[str]]:
    """Sum over pixels of v * LovaszWeights(e, t) -> LovaszSum(v, e, t): the sort and the sum one row at
    a time, with neither the weighted product nor its gradient as a field (run once the primitives
    stand in the formula again: they are fields of their own until then)."""

    def match(e):
        if not (isinstance(e, ReduceSum) and e.args[1] in (PIXELS, PIXELS_MASKED) and isinstance(e.args[0], sp.Mul)):
            return None
        weights = [f for f in e.args[0].args if isinstance(f, LovaszWeights)]
        if len(weights) != 1:
            return None
        values = _split_factor(e.args[0], weights[0])
        if values is None or not is_tensor(values) or values.has(LovaszWeights):
            return None
        return _lovasz_form(values, *weights[0].args) or LovaszSum(values, *weights[0].args)

    found = {e: kernel for e in sp.preorder_traversal(expr) if (kernel := match(e)) is not None}
    return (expr.xreplace(found), ["lovasz_sum"]) if found else (expr, [])


def _lovasz_form(values, errors, target):
    """LovaszAbsSum(t) where values = errors = |g - t|, LovaszHingeSum(t) where errors = 1 - t (2 g - 1)
    and values = max(errors, 0), t a tensor free of g and the target g; else None."""
    g = TENSORS["g"]
    if target != g:
        return None

    def field(t):
        return t if is_tensor(t) and not t.has(g) else None

    if values == errors and isinstance(errors, sp.Abs):
        inner = errors.args[0]
        t = field(g - inner) or field(inner + g)  # |g - t| or |t - g|
        return LovaszAbsSum(t) if t is not None else None
    if values == sp.Max(errors, 0) and errors.has(g):
        t = field(sp.cancel((1 - errors) / (2 * g - 1)))
        if t is not None and sp.expand(errors - (1 - t * (2 * g - 1))) == 0:
            return LovaszHingeSum(t)
    return None


def specialize(expr: sp.Expr) -> tuple[sp.Expr, list[str]]:
    """Replace every subexpression that is exactly a fused kernel's definition by the kernel."""
    fired = []
    for name, match in KERNELS:
        found = {}
        for e in sp.preorder_traversal(expr):
            kernel = match(e)
            if kernel is not None:
                found[e] = kernel
        if found:
            expr = expr.xreplace(found)
            fired.append(name)
    return expr, fired
