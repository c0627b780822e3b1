"""PaddlePrinter: the tensor IR as Paddle expressions.

A SymPy code printer, strict: a node it does not know is an error, never a silent fallback.
Tensors go through `paddle`/`F`; expressions over parameters alone stay Python numbers (`math`),
since Paddle's ops reject Python scalars where a tensor is expected.
"""
from __future__ import annotations

import sympy as sp
from sympy.printing.precedence import precedence
from sympy.printing.pycode import PythonCodePrinter

from ..frontend.functions import log1p, log_cosh, sigmoid, softplus
from ..frontend.primitives import Primitive
from .rules import EPS
from .ir import CLASSES, N_ALL_CLASSES, N_CLASSES, N_PIXELS, PIXELS, PIXELS_MASKED, Clamp, counts_pixels, is_tensor

TENSOR_FUNCTIONS = {
    sp.log: "paddle.log",
    sp.exp: "paddle.exp",
    sp.Abs: "paddle.abs",
    sp.cosh: "paddle.cosh",
    sp.tanh: "paddle.tanh",
    sigmoid: "ctx.sigmoid",  # Paddle's lose the tail (softplus) or the gradient's tail (sigmoid) in float32
    softplus: "ctx.softplus",
    log_cosh: "ctx.log_cosh",
    log1p: "paddle.log1p",
}
SCALAR_FUNCTIONS = {sp.log: "math.log", sp.exp: "math.exp", sp.Abs: "abs", sp.cosh: "math.cosh",
                    sp.tanh: "math.tanh", log1p: "math.log1p"}
SCALAR_FORMS = {  # sigmoid(z) = e^min(z, 0) / (1 + e^-|z|); softplus(z) = max(z, 0) + log1p(e^-|z|)
    sigmoid: "(math.exp(min({z}, 0)) / (1 + math.exp(-abs({z}))))",
    softplus: "(max({z}, 0) + math.log1p(math.exp(-abs({z}))))",
}
COUNTS = {N_PIXELS: "ctx.n_pixels", N_CLASSES: "ctx.n_classes", N_ALL_CLASSES: "ctx.C", EPS: "ctx.tiny"}


class PaddlePrinter(PythonCodePrinter):
    printmethod = "_paddlecode"

    def __init__(self, settings=None):
        super().__init__({"strict": True, "fully_qualified_modules": False, **(settings or {})})

    # atoms ---------------------------------------------------------------------------------
    def _print_Symbol(self, expr):
        return COUNTS.get(expr, expr.name)

    _print_Tensor = _print_Symbol
    _print_Count = _print_Symbol

    def _print_Float(self, expr):
        return repr(float(expr))

    def _print_Rational(self, expr):
        return repr(float(expr))

    def _print_Half(self, expr):
        return "0.5"

    def _print_undefined(self, expr):
        raise sp.printing.codeprinter.PrintMethodNotImplementedError(
            f"PaddlePrinter will not print the constant {expr}: the loader or the lowering should have refused it")

    _print_NaN = _print_ComplexInfinity = _print_Infinity = _print_NegativeInfinity = _print_undefined

    # functions -----------------------------------------------------------------------------
    def _print_Function(self, expr):
        if isinstance(expr, Primitive):  # SymPy dispatches Function subclasses by their own name only
            args = ", ".join(self._print(a) for a in expr.args)
            if type(expr).paddle is not None:  # defined in a spec: its function is in the generated module
                return f"{primitive_function(type(expr))}(ctx, {args})"
            return f"ctx.{expr.runtime}({args})"
        runtime = run_time_valued(expr)
        if not runtime and expr.func in SCALAR_FORMS:  # no math.<name>: written out, without overflow
            self.module_imports["math"].update({"exp", "log1p"})
            return SCALAR_FORMS[expr.func].format(z=self._print(expr.args[0]))
        table = TENSOR_FUNCTIONS if runtime else SCALAR_FUNCTIONS
        name = table.get(expr.func)
        if name is None:
            raise sp.printing.codeprinter.PrintMethodNotImplementedError(
                f"PaddlePrinter has no lowering for {expr.func.__name__}: add it to TENSOR_FUNCTIONS")
        if name.startswith("math."):
            self.module_imports["math"].add(name.split(".")[1])
            return f"{name}({', '.join(self._print(a) for a in expr.args)})"
        return f"{name}({', '.join(self._tensor(a) for a in expr.args)})"

    _print_log = _print_exp = _print_Abs = _print_cosh = _print_tanh = _print_Function
    _print_sigmoid = _print_softplus = _print_log_cosh = _print_log1p = _print_Function

    def _print_ReduceSum(self, expr):
        body, axis = expr.args
        text = self._print(body)
        if axis == PIXELS:
            return f"ctx.psum({text})"
        if axis == PIXELS_MASKED:
            return f"ctx.msum({text})"
        if axis == CLASSES:
            return f"ctx.csum({text})"
        raise ValueError(f"unknown reduction axis {axis}")

    def _print_Max(self, expr):
        return self._extremum(expr, "paddle.maximum", "min", "max")

    def _print_Min(self, expr):
        return self._extremum(expr, "paddle.minimum", "max", "min")

    def _extremum(self, expr, fold, clip_keyword, builtin):
        """Tensors fold pairwise; constants become one clip bound (Paddle's maximum wants tensors)."""
        both = _clip_bounds(expr)
        if both is not None:  # one clip, one field: the values and slope of the two nested clips
            tensor, low, high = both
            return f"paddle.clip({self._tensor(tensor)}, min={self._print(low)}, max={self._print(high)})"
        args = sorted(expr.args, key=sp.default_sort_key)
        tensors = [self._tensor(a) for a in args if run_time_valued(a)]
        consts = [self._print(a) for a in args if not run_time_valued(a)]
        if not tensors:
            return f"{builtin}({', '.join(consts)})"
        text = tensors[0]
        for other in tensors[1:]:
            text = f"{fold}({text}, {other})"
        if consts:
            bound = consts[0] if len(consts) == 1 else f"{builtin}({', '.join(consts)})"
            text = f"paddle.clip({text}, {clip_keyword}={bound})"
        return text

    def _print_Const(self, expr):
        return f"ctx.const({self._print(expr.args[0])})"

    def _print_SoftmaxCrossEntropy(self, expr):
        return f"ctx.softmax_cross_entropy({self._print(expr.args[0])})"

    def _print_SoftmaxCrossEntropyAll(self, expr):
        return f"ctx.softmax_cross_entropy({self._print(expr.args[0])}, every=True)"

    def _print_ClassSlice(self, expr):
        return f"ctx.pick_class({self._print(expr.args[0])}, {int(expr.args[1])})"

    def _print_TargetWeight(self, expr):
        return f"ctx.target_weight({self._print(expr.args[0])})"

    def _print_SigmoidBCE(self, expr):
        return f"ctx.sigmoid_bce({', '.join(self._print(a) for a in expr.args)})"

    def _print_SigmoidFocal(self, expr):
        return f"ctx.sigmoid_focal({', '.join(self._print(a) for a in expr.args)})"

    def _print_SoftmaxBCE(self, expr):
        return f"ctx.softmax_bce({self._print(expr.args[0])}, {self._print(expr.args[1])})"

    def _print_SquaredError(self, expr):
        return f"ctx.squared_error({self._print(expr.args[0])})"

    def _print_LovaszSum(self, expr):
        return f"ctx.lovasz_sum({', '.join(self._print(a) for a in expr.args)})"

    def _print_LovaszAbsSum(self, expr):
        return f"ctx.lovasz_abs_sum({self._print(expr.args[0])})"

    def _print_LovaszHingeSum(self, expr):
        return f"ctx.lovasz_hinge_sum({self._print(expr.args[0])})"

    def _print_TargetSum(self, expr):
        return f"ctx.target_sum({self._print(expr.args[0])})"

    def _print_ComplementSum(self, expr):
        return f"ctx.complement_sum({self._print(expr.args[0])})"

    def _print_MissedSum(self, expr):
        return f"ctx.missed_sum({self._print(expr.args[0])})"

    def _print_RejectedSum(self, expr):
        return f"ctx.rejected_sum({self._print(expr.args[0])})"

    def _print_TargetCount(self, expr):
        return "ctx.target_count()"

    def _print_ComplementCount(self, expr):
        return "ctx.complement_count()"

    def _print_Indicator(self, expr):
        if not run_time_valued(expr):
            return f"(1.0 if {self._print(expr.args[0])} > 0 else 0.0)"
        return f"ctx.indicator({self._tensor(expr.args[0])})"

    def _print_Clamp(self, expr):
        return f"ctx.clamp({self._print(expr.args[0])})"

    def _print_Pow(self, expr, rational=False):
        base, exp = expr.args
        if not run_time_valued(base):
            if exp == sp.S.Half:
                self.module_imports["math"].add("sqrt")
                return f"math.sqrt({self._print(base)})"
            return super()._print_Pow(expr, rational=rational)
        if exp == sp.S.Half:
            return f"paddle.sqrt({self._tensor(base)})"
        if exp == -1:
            return f"1 / {self.parenthesize(base, precedence(expr))}"
        if exp == -2 and is_tensor(base):  # a pixel count may be a Python number at run time
            return f"1 / paddle.square({self._print(base)})"
        if exp.is_Integer and exp < 0:
            return f"1 / {self.parenthesize(base, precedence(expr))}**{-int(exp)}"
        if exp == 2 and is_tensor(base):  # Paddle's generic pow costs about 12x a multiply on the CPU, square half
            return f"paddle.square({self._print(base)})"
        base_text = self.parenthesize(base, precedence(expr), strict=False)
        if exp.is_Integer:
            return f"{base_text}**{self._print(exp)}"
        # Paddle rounds a Python-float exponent to float32: ctx.power passes it exactly (and clamps a
        # guarded base only where the exponent makes the gradient at 0 infinite).
        if isinstance(base, Clamp):
            return f"ctx.power({self._print(base.args[0])}, {self._print(exp)})"
        return f"ctx.power({self._tensor(base)}, {self._print(exp)}, guard=False)"

    def _tensor(self, expr) -> str:
        """An argument of a Paddle function: a tensor, or a run-time count made one (ctx.scalar)."""
        text = self._print(expr)
        return text if is_tensor(expr) else f"ctx.scalar({text})"


def _clip_bounds(expr):
    """(t, low, high) where expr is Min(Max(t, low), high) or Max(Min(t, high), low) with one tensor t,
    constant bounds and low <= high for every parameter value the domains allow; else None."""
    opposite = sp.Max if isinstance(expr, sp.Min) else sp.Min
    inner = [a for a in expr.args if run_time_valued(a)]
    outer_bound = [a for a in expr.args if not run_time_valued(a)]
    if len(inner) != 1 or len(outer_bound) != 1 or not isinstance(inner[0], opposite):
        return None
    tensors = [a for a in inner[0].args if run_time_valued(a)]
    inner_bound = [a for a in inner[0].args if not run_time_valued(a)]
    if len(tensors) != 1 or len(inner_bound) != 1:
        return None
    low, high = (inner_bound[0], outer_bound[0]) if isinstance(expr, sp.Min) else (outer_bound[0], inner_bound[0])
    return (tensors[0], low, high) if _ordered(low, high) else None


def _ordered(low, high) -> bool:
    """Whether low <= high at every value of the parameters' domains (interval arithmetic: a False
    may be a bound it could not prove)."""
    gap = sp.sympify(high - low)
    bounds = {}
    for symbol in gap.free_symbols:
        domain = getattr(symbol, "domain", None)
        if not isinstance(domain, sp.Interval) or not (domain.inf.is_finite and domain.sup.is_finite):
            return False
        bounds[symbol] = sp.AccumBounds(domain.inf, domain.sup)
    value = gap.subs(bounds) if bounds else gap
    least = value.min if isinstance(value, sp.AccumBounds) else value
    return bool(least.is_number and least >= 0)


def run_time_valued(expr) -> bool:
    """A tensor, or an expression of the valid-pixel count, which is a tensor wherever pixels are masked: either
    way not a Python number, so `math` cannot take it."""
    return is_tensor(expr) or counts_pixels(expr)


def paddle_code(expr) -> str:
    """One expression as Paddle code."""
    return PaddlePrinter().doprint(expr)


def primitive_function(cls) -> str:
    """The name of a spec-defined primitive's Paddle function in the generated module."""
    return "_" + "".join(f"_{ch.lower()}" if ch.isupper() else ch for ch in cls.__name__).lstrip("_")
