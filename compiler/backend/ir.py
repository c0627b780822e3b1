"""The tensor IR: what a formula becomes once sums are reductions and fields are tensors.

Still SymPy, so CSE and printing work on it unchanged. Every tensor is (N, C, P) or broadcastable
to it: batch, class, and flattened pixel axes; reductions keep their axis (keepdim) so results
broadcast back against the fields.
"""
from __future__ import annotations

import sympy as sp

# Class-coupled fields of the softmax activation, indexed [c, i] in the math IR.
SOFTMAX = sp.IndexedBase("softmax", positive=True)
LOG_SOFTMAX = sp.IndexedBase("log_softmax", real=True)
LOG1M_SOFTMAX = sp.IndexedBase("log1m_softmax", real=True)  # log(1 - softmax)
# The same over every class (AllClasses terms, class selections such as p[0, i]).
SOFTMAX_ALL = sp.IndexedBase("softmax_all", positive=True)
LOG_SOFTMAX_ALL = sp.IndexedBase("log_softmax_all", real=True)
LOG1M_SOFTMAX_ALL = sp.IndexedBase("log1m_softmax_all", real=True)


class TensorVar(sp.Symbol):
    """A named tensor of the generated code (a field, or a CSE temporary that holds one)."""


class PrimitiveField(sp.IndexedBase):
    """A primitive's values as a field [c, i] of the math IR, like p and g: a primitive varies per
    pixel, so the passes that pull pixel-free factors out of sums must never move it (lower.py)."""


class PrimitiveTensor(TensorVar):
    """A primitive's values as a tensor (N, C, P) of the generated code: per pixel, never a class weight."""


def is_tensor(expr) -> bool:
    """Whether an expression reads a tensor (else it is a Python number at run time)."""
    expr = sp.sympify(expr)
    return any(isinstance(s, TensorVar) for s in expr.free_symbols) or expr.has(Kernel)


class Kernel(sp.Function):
    """A fused Paddle kernel: a tensor, whatever its arguments (which may be numbers)."""

    is_number = False  # SigmoidBCE(1) is no number: SymPy's Max and Min would try to compare it


class RunSize(sp.Symbol):
    """A size known only at run time: valid pixels per unit, or classes after the background is dropped."""


# Fields as tensors of the generated code, and where each comes from.
TENSORS = {  # in the order the generated code computes them (log p first: p = exp(log p) reuses it)
    "x": TensorVar("x", real=True),
    "logp": TensorVar("logp", real=True),
    "p": TensorVar("p", positive=True),
    "g": TensorVar("g", nonnegative=True),
    "log1mp": TensorVar("log1mp", real=True),
    # every class, background included, whatever include_background says
    "x_all": TensorVar("x_all", real=True),
    "logp_all": TensorVar("logp_all", real=True),
    "p_all": TensorVar("p_all", positive=True),
    "g_all": TensorVar("g_all", nonnegative=True),
    "log1mp_all": TensorVar("log1mp_all", real=True),
}
FIELD_TENSOR = {"x": "x", "p": "p", "g": "g", "softmax": "p", "log_softmax": "logp", "log1m_softmax": "log1mp",
                "x_all": "x_all", "p_all": "p_all", "g_all": "g_all", "softmax_all": "p_all",
                "log_softmax_all": "logp_all", "log1m_softmax_all": "log1mp_all"}


class PixelCount(RunSize):
    """The valid-pixel count, or a temporary holding an expression of it: a Python number when no pixel is
    masked, a tensor (one count per unit) where some are, so never an argument of `math`."""


N_PIXELS = PixelCount("n_pixels", positive=True)
N_CLASSES = RunSize("n_classes", positive=True)
N_ALL_CLASSES = RunSize("n_all_classes", positive=True)  # every class: what C_all counts


def counts_pixels(expr) -> bool:
    """Whether an expression reads the valid-pixel count (a tensor where pixels are masked)."""
    return any(isinstance(s, PixelCount) for s in sp.sympify(expr).free_symbols)


PIXELS = sp.Symbol("pixels")  # reduce over the pixels of each unit (an image, or the batch)
PIXELS_MASKED = sp.Symbol("pixels_masked")  # the same, with ignored pixels left out
CLASSES = sp.Symbol("classes")  # reduce over classes


class ReduceSum(sp.Function):
    """Sum of a tensor over one axis kind (PIXELS, PIXELS_MASKED or CLASSES), keeping the axis."""

    nargs = 2

    @classmethod
    def eval(cls, body, axis):
        """A negative factor stands outside the sum: -sum(-g t) is sum(g t), exactly, with no negated
        field of its own (which autograd would keep for the product's backward pass)."""
        if isinstance(body, sp.Mul) and body.args[0].is_number and body.args[0].is_negative:
            return -cls(-body, axis)
        return None

    def _eval_is_real(self):
        return self.args[0].is_real

    def _eval_is_nonnegative(self):
        return self.args[0].is_nonnegative


class Clamp(sp.Function):
    """max(e, low) with no gradient below `low`: a guard where no exact stable form exists."""

    nargs = 2

    def _eval_is_positive(self):
        return self.args[1].is_positive

    def _eval_is_real(self):
        return True


class SoftmaxCrossEntropy(Kernel):
    """-sum_c w_c g_c log softmax(x)_c over classes (keepdim): Paddle's fused cross-entropy kernel."""

    nargs = 1


class SoftmaxCrossEntropyAll(Kernel):
    """The same over every class, background included (an AllClasses term)."""

    nargs = 1


class ClassSlice(sp.Function):
    """One class of a field tensor, ClassSlice(t, k) = t[:, k:k+1]: a class selection such as p[0, i]."""

    nargs = 2


class SigmoidBCE(Kernel):
    """a g softplus(-x) + b (1 - g) softplus(x): binary cross-entropy with logits (a is Paddle's
    pos_weight; SigmoidBCE(a) when b = 1)."""

    nargs = (1, 2)


class SigmoidFocal(Kernel):
    """a g sigmoid(-x)^gamma softplus(-x) + b (1 - g) sigmoid(x)^gamma softplus(x): the sigmoid focal
    loss (Lin et al.), one pass over the logits instead of two sigmoids, two softplus and two powers."""

    nargs = 3


class SoftmaxBCE(Kernel):
    """-(a g log p + b (1 - g) log(1 - p)) per class and pixel, p the softmax: binary cross-entropy of
    every class against the rest, with a single log per element when the labels are class indices."""

    nargs = 2


class SquaredError(Kernel):
    """(g - t)^2 per class and pixel, t a tensor: its slope 2 (t - g) is computed again in the backward
    pass, where autograd would keep g - t beside the square."""

    nargs = 1

    def _eval_is_real(self):
        return True

    def _eval_is_nonnegative(self):
        return True


class LovaszSum(Kernel):
    """LovaszSum(values, errors, target) = sum over the valid pixels of each unit of values *
    LovaszWeights(errors, target) (keepdim): the Lovasz extension, sorted and summed one row (unit,
    class) at a time, with no product field and no gradient field of its own."""

    nargs = 3


class LovaszAbsSum(Kernel):
    """LovaszSum(|g - t|, |g - t|, g): the Lovasz-softmax of field t, its errors formed one row at a time."""

    nargs = 1


class LovaszHingeSum(Kernel):
    """LovaszSum(max(e, 0), e, g) with e = 1 - t (2 g - 1): the Lovasz hinge of logits t, likewise."""

    nargs = 1


class TargetSum(Kernel):
    """sum over the pixels of each unit of g * t (keepdim): t summed at each pixel's target class."""

    nargs = 1

    def _eval_is_real(self):
        return self.args[0].is_real

    def _eval_is_nonnegative(self):
        return self.args[0].is_nonnegative


class ComplementSum(Kernel):
    """sum over the valid pixels of each unit of (1 - g) * t (keepdim): t summed away from each pixel's
    target class, as it stands (msum(t) - TargetSum(t) cancels where g t ~ t)."""

    nargs = 1

    def _eval_is_real(self):
        return self.args[0].is_real

    def _eval_is_nonnegative(self):
        return self.args[0].is_nonnegative


class MissedSum(Kernel):
    """sum over the pixels of each unit of g * (1 - t) (keepdim): the target's mass t misses, in the
    step that sums g t (no field 1 - t of its own, one gradient field for both)."""

    nargs = 1

    def _eval_is_real(self):
        return self.args[0].is_real


class RejectedSum(Kernel):
    """sum over the valid pixels of each unit of (1 - g) * (1 - t) (keepdim): what t rightly leaves
    out, in the step that sums g t, as MissedSum."""

    nargs = 1

    def _eval_is_real(self):
        return self.args[0].is_real


class TargetCount(Kernel):
    """TargetCount(PIXELS) = sum over the pixels of each unit of g (keepdim): with class indices, each
    class's pixel count. Its argument, the axis symbol, keeps SymPy from taking it for a number."""

    nargs = 1

    def _eval_is_real(self):
        return True

    def _eval_is_nonnegative(self):
        return True


class ComplementCount(Kernel):
    """ComplementCount(PIXELS) = sum over the valid pixels of each unit of 1 - g (keepdim): with class
    indices, the unit's valid pixels less the class's own, counted with no field 1 - g."""

    nargs = 1

    def _eval_is_real(self):
        return True

    def _eval_is_nonnegative(self):
        return True


class Const(sp.Function):
    """A parameter-valued scalar entering a tensor expression. Eager Paddle keeps Python floats exact;
    a static graph stores them as float32 attributes, so there they become tensors (ctx.const)."""

    nargs = 1


class TargetWeight(Kernel):
    """sum_c w_c g_c over classes (keepdim): each pixel's target class weight (a gather from class indices)."""

    nargs = 1
