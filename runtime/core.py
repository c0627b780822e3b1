"""What every generated loss shares: argument checks, targets and masks, activations, reductions.

Tensors inside a loss are (N, C, P): batch, class, and the spatial axes flattened to P pixels.
Pixel sums keep their axes, so a statistic broadcasts back against the fields.
"""

import functools
import math
import os
import sys
import weakref

import numpy as np
import paddle
import paddle.nn.functional as F
from paddle import _C_ops

# The build inlines runtime/distance_maps.py in place of the next line (generated/_runtime.py is one module).
from .distance_maps import BATCH_MAPS, NUMPY_MAPS, MapBatch, transform_for

ACTIVATIONS = ("auto", "sigmoid", "softmax", "none")
# Tensors in eager mode, and their graph values under paddle.jit.to_static.
TENSORS = (paddle.Tensor,) + (
    (paddle.pir.Value,) if hasattr(paddle, "pir") and hasattr(paddle.pir, "Value") else ()
)
REDUCTIONS = ("none", "mean", "sum")
_FLOATS = ("float16", "bfloat16", "float32", "float64")
_INTEGERS = ("int8", "int16", "int32", "int64", "uint8", "bool")


def _dtype_name(tensor):
    return str(tensor.dtype).replace("paddle.", "")


def _fail(function, argument, got, expected):
    raise ValueError(f"{function}: {argument} got {got}; expected {expected}")


# In a static graph, Paddle's full_like asks its input for a place, which a graph value lacks (a
# UserWarning per call), and its where broadcasts unequal shapes through zeros_like (the same warning).
# These two take the same arguments and warn about nothing.
def _full_like(t, value):
    """paddle.full_like(t, value)."""
    if paddle.in_dynamic_mode():
        return paddle.full_like(t, value)
    return paddle.full(paddle.shape(t), value, dtype=t.dtype)


def _where(condition, a, b):
    """paddle.where(condition, a, b) of tensors."""
    if paddle.in_dynamic_mode():
        return paddle.where(condition, a, b)
    shapes = [list(t.shape) for t in (condition, a, b)]
    if any(d < 0 for s in shapes for d in s):  # a dynamic dimension: Paddle's where broadcasts it
        return paddle.where(condition, a, b)
    shape = paddle.broadcast_shape(paddle.broadcast_shape(shapes[0], shapes[1]), shapes[2])
    return paddle.where(
        *(t if list(t.shape) == shape else paddle.broadcast_to(t, shape) for t in (condition, a, b))
    )


# ---- how much the losses check their inputs --------------------------------------------------
CHECK_MODES = ("default", "debug")
_CHECKS_VARIABLE = "SYMLOSS_CHECKS"


def _initial_checks():
    mode = os.environ.get(_CHECKS_VARIABLE, "default") or "default"
    if mode not in CHECK_MODES:
        _fail(
            "symloss", _CHECKS_VARIABLE, repr(mode), "one of " + ", ".join(map(repr, CHECK_MODES))
        )
    return mode


_checks = {"mode": _initial_checks()}


def set_checks(mode):
    """Choose how much every loss checks its inputs; returns the previous mode.

    "default": shapes, dtypes, options and parameters, and in eager mode the label values (class
    indices in range, soft targets in [0, 1]) and, with activation="none", the probabilities in
    [0, 1], in one host sync. "debug" adds, in eager mode, a check that the logits, float targets,
    dist_map and tensor parameters hold no NaN or Inf (one more reduction per input). The
    environment variable SYMLOSS_CHECKS=debug sets it at import.
    """
    if mode not in CHECK_MODES:
        _fail("set_checks", "mode", repr(mode), "one of " + ", ".join(map(repr, CHECK_MODES)))
    previous, _checks["mode"] = _checks["mode"], mode
    return previous


def _debug():
    return _checks["mode"] == "debug" and paddle.in_dynamic_mode()


def _all_finite(tensor):
    """1.0 if every value is finite, else 0.0, as a float64 0-d tensor (no host sync)."""
    return paddle.all(paddle.isfinite(tensor)).astype("float64")


def _check_finite(function, name, tensor):
    """Debug mode: reject a tensor holding NaN or Inf (one host sync)."""
    if _debug() and float(_all_finite(tensor)) == 0.0:
        _fail(function, name, "NaN or Inf values", "finite values (set_checks('debug') is on)")


def check_param(function, name, value, low, high, low_open=False, high_open=False):
    """Reject a parameter outside its domain, or not finite (tensors, e.g. learnable ones, are checked
    for NaN and Inf only in debug mode)."""
    if isinstance(value, TENSORS):
        _check_finite(function, name, value)
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        _fail(function, name, repr(value), "a real number")
    try:
        value = float(value)
    except OverflowError:  # an int beyond float range
        _fail(function, name, repr(value), "a finite real number")
    too_low = low is not None and (value < low or (low_open and value == low))
    too_high = high is not None and (value > high or (high_open and value == high))
    if too_low or too_high or not math.isfinite(value):
        left = "(" if low_open else "["
        right = ")" if high_open else "]"
        lo = "-inf" if low is None else low
        hi = "inf" if high is None else high
        _fail(function, name, repr(value), f"a finite value in {left}{lo}, {hi}{right}")
    return float(value)


def check_choice(function, name, value, options):
    """Reject a value that is not one of a Choice parameter's options."""
    if value not in options:
        _fail(function, name, repr(value), "one of " + ", ".join(map(repr, options)))
    return value


def check_weights(function, name, value):
    """Accept None or a sequence (list, tuple, array, tensor) of class weights; its length is checked per call."""
    if value is None:
        return value
    if isinstance(value, TENSORS):
        _check_finite(function, name, value)
        return value
    try:
        values = [float(v) for v in value]
    except (TypeError, ValueError):
        _fail(function, name, repr(value), "None or a sequence of C non-negative numbers")
    if not all(0 <= v < math.inf for v in values):
        _fail(function, name, repr(value), "finite non-negative weights")
    return values


def check_options(
    function, *, activation, ignore_index, include_background, batch, sync, reduction
):
    """Reject a common keyword outside its documented values."""
    if activation not in ACTIVATIONS:
        _fail(
            function, "activation", repr(activation), "one of " + ", ".join(map(repr, ACTIVATIONS))
        )
    if reduction not in REDUCTIONS:
        _fail(function, "reduction", repr(reduction), "one of " + ", ".join(map(repr, REDUCTIONS)))
    if ignore_index is not None and (
        isinstance(ignore_index, bool) or not isinstance(ignore_index, int)
    ):
        _fail(function, "ignore_index", repr(ignore_index), "an int or None")
    for name, value in (
        ("include_background", include_background),
        ("batch", batch),
        ("sync", sync),
    ):
        if not isinstance(value, bool):
            _fail(function, name, repr(value), "True or False")


def _world_size():
    import paddle.distributed as dist

    return dist.get_world_size() if dist.is_initialized() else 1


def _all_reduce(t):
    """Sum of a tensor over data-parallel ranks (no gradient)."""
    import paddle.distributed as dist

    out = t.detach().clone()
    dist.all_reduce(out)
    return out


class _AllReduceSum(paddle.autograd.PyLayer):
    """Sum over data-parallel ranks. The backward sums the ranks' gradients too: every rank holds the
    same global loss, so each rank's share gets the gradient of every copy (N times the single-process
    gradient, which paddle.DataParallel's averaging divides by N again)."""

    @staticmethod
    def forward(ctx, t):
        return _all_reduce(t)

    @staticmethod
    def backward(ctx, grad):
        return _all_reduce(grad)


def _check_unchanged(function, tensors):
    """A gradient hook for the logits as they enter a loss: it raises if the logits or the labels were
    changed in place since the forward pass, whose kernels read them again in the backward pass (the
    sigmoid's slope, the one-hot target, the Lovasz rows), where Paddle checks only the tensors its own
    operations save. Every gradient path to the logits ends at the hooked tensor, so the hook runs
    after the other backward steps, and its error keeps a changed input's gradient from them."""
    versions = [(t, t._inplace_version()) for t in tensors]

    def hook(grad):
        for t, version in versions:
            if t._inplace_version() != version:
                raise RuntimeError(
                    f"{function}: the logits or the labels were changed in place after the loss was computed "
                    f"(in-place version {t._inplace_version()}, expected {version}), and its backward pass reads "
                    f"them again: change a copy, or compute the loss after the change"
                )
        return grad

    return hook


def _sigmoid_value(x):
    """sigmoid(x), the same numbers in eager mode and in a static graph (a sort over probabilities
    must see the same ties in both): exp(log_sigmoid(x)) for x >= 0 (in a graph, Paddle's slope of
    this, p sigmoid(-x), is accurate), F.sigmoid below (there 1 - p >= 1/2)."""
    return _where(x < 0, F.sigmoid(x), paddle.exp(F.log_sigmoid(x)))


def _softplus_value(t):
    """log(1 + e^t) = max(t, 0) + log1p(e^-|t|), with max and -|t| written so that, differentiated in
    a graph, both have the right slope at t = 0 (Paddle's relu and abs have slope 0 there)."""
    positive = t > 0
    above = _where(positive, t, _full_like(t, 0))
    return above + paddle.log1p(paddle.exp(_where(positive, -t, t)))


def _softmax_terms(x):
    """(top, z, R) over axis 1: top marks one largest logit per pixel, z = x - x_top (the constant 0
    at the top), R = sum of e^z over the other classes, so softmax = e^z / (1 + R) and log softmax =
    z - log1p(R).

    Paddle's softmax and log_softmax clip z at -64 on the CPU; this does not. With the top's own term
    the constant 1, its gradient flows through the other classes' terms only: where p_top is near 1,
    d log p_top / dx_top = R / (1 + R) is a sum of small terms instead of 1 - p_top, which float32
    rounds to 0 (and (-log p)^0.3 multiplies that by 190 at p = 1 - 1e-4).
    """
    classes = x.shape[1]
    top = paddle.arange(classes, dtype="int64").reshape([1, classes, 1]) == paddle.argmax(x, axis=1, keepdim=True)
    zeros = _full_like(x, 0)
    highest = paddle.sum(_where(top, x, zeros), axis=1, keepdim=True)
    shifted = _where(top, zeros, x - highest)
    rest = paddle.sum(_where(top, zeros, paddle.exp(shifted)), axis=1, keepdim=True)
    return top, shifted, rest


# Eager mode computes the same values through PyLayers whose backward is cheaper than differentiating
# the formulas (a PyLayer in a static graph warns, so graphs differentiate the formulas).
class _Sigmoid(paddle.autograd.PyLayer):
    """_sigmoid_value with the slope p sigmoid(-x) (Paddle's F.sigmoid slope, p (1 - p), is 0 once p
    rounds to 1, x > 17 in float32, though the slope is e^-x there). Eager on the CPU (`host`) in
    NumPy, whose vectorised exp is many times faster than Paddle's operations here."""

    @staticmethod
    def forward(ctx, x, host):
        ctx.host = host
        ctx.save_for_backward(x)
        if host:
            return _from_host(_sigmoid_host(_host_array(x)))
        p = _sigmoid_value(x)
        ctx.p = p
        return p

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensor()
        if ctx.host:  # sigmoid(x) sigmoid(-x) = 1 / (2 + 2 cosh x), in place
            a = _host_array(x)
            with np.errstate(over="ignore"):  # cosh x = inf: a slope of 0, below float's range anyway
                slope = np.cosh(a, out=_host_empty(a.shape, a.dtype))
            slope += 1
            np.divide(0.5, slope, out=slope)
            slope *= _host_array(grad)
            return _from_host(slope)
        return grad * ctx.p * F.sigmoid(-x)


class _Softplus(paddle.autograd.PyLayer):
    """_softplus_value with the slope sigmoid(t); eager on the CPU in NumPy (see _Sigmoid)."""

    @staticmethod
    def forward(ctx, t, host):
        ctx.save_for_backward(t)
        ctx.host = host
        if host:
            a = _host_array(t)
            out = _host_empty(a.shape, a.dtype)
            np.abs(a, out=out)
            np.negative(out, out=out)
            np.exp(out, out=out)
            np.log1p(out, out=out)
            out += np.maximum(a, 0, out=_scratch(a.shape, a.dtype))  # not a masked add: ten times slower
            return _from_host(out)
        return _softplus_value(t)

    @staticmethod
    def backward(ctx, grad):
        (t,) = ctx.saved_tensor()
        if ctx.host:
            slope = _sigmoid_host(_host_array(t))
            slope *= _host_array(grad)
            return _from_host(slope)
        return grad * F.sigmoid(t)


def _sigmoid_host(a):
    """sigmoid of a NumPy field, 1 / (1 + e^-a), in place in a Paddle buffer (see _host_empty): accurate
    to a few ulps wherever the result is a normal number (below, e^-a overflows and it gives 0)."""
    p = _host_empty(a.shape, a.dtype)
    np.negative(a, out=p)
    with np.errstate(over="ignore"):
        np.exp(p, out=p)
    p += 1
    return np.divide(1, p, out=p)  # as np.reciprocal computes it, at twice its speed here


class _Softmax(paddle.autograd.PyLayer):
    """softmax over axis 1 with the backward p (dp - sum p dp), balanced at the top class
    (_balanced_at_top). Eager on the CPU the context's NumPy softmax (`host`: _softmax_host), several
    times faster than Paddle's softmax along a middle axis; elsewhere _softmax_value and Paddle's
    softmax_grad."""

    @staticmethod
    def forward(ctx, x, host):
        if host is not None:
            ctx.host, ctx.p = True, host[1]
            return _from_host(ctx.p)
        p = _softmax_value(x)
        ctx.host = False
        ctx.save_for_backward(p)
        return p

    @staticmethod
    def backward(ctx, grad):
        if ctx.host:
            p, dp = ctx.p, _host_array(grad)
            d = np.multiply(dp, p, out=_host_empty(p.shape, p.dtype))
            np.subtract(dp, d.sum(axis=1, keepdims=True), out=d)
            d *= p
            return _from_host(_balanced_at_top(d, p))
        (p,) = ctx.saved_tensor()
        d = _C_ops.softmax_grad(p, grad, 1)  # Paddle's fused p (dp - sum p dp)
        # compared with a one-element tensor (a Python number is expanded to a full field first)
        top = p > paddle.full([1], 0.5, dtype=p.dtype)  # at most one class per pixel: the largest
        d.masked_fill_(top, 0.0)
        rest = -paddle.sum(d, axis=1, keepdim=True)
        # added at the top (where d is now 0) in place: a where over every class would hold a fourth
        # field beside p, grad and d
        has_top = paddle.any(top, axis=1, keepdim=True)
        del top
        rest = paddle.where(has_top, rest, paddle.zeros([1], dtype=p.dtype))
        del has_top
        largest = paddle.argmax(p, axis=1, keepdim=True, dtype="int32")
        d.put_along_axis_(largest, rest, 1, reduce="add", broadcast=False)
        return d


class _LogSoftmax(paddle.autograd.PyLayer):
    """log softmax over axis 1 of eager CPU logits, in NumPy from the context's softmax (`host`:
    _softmax_host): z - log1p(R) as _softmax_terms (no clip). Its backward is dl - p sum(dl), balanced
    at the top class (_balanced_at_top). Paddle's operations along the class axis run many times
    slower here."""

    @staticmethod
    def forward(ctx, x, host):
        ctx.p = host[1]
        a = _host_array(x)
        return _from_host(_log_softmax_host(a, host, _softmax_rest(host, _top_class(a, host[0]))))

    @staticmethod
    def backward(ctx, grad):
        p, dl = ctx.p, _host_array(grad)
        d = np.multiply(p, dl.sum(axis=1, keepdims=True), out=_host_empty(p.shape, p.dtype))
        np.subtract(dl, d, out=d)
        return _from_host(_balanced_at_top(d, p))


class _LogOneMinusSoftmax(paddle.autograd.PyLayer):
    """log(1 - softmax) over axis 1 of eager CPU logits, in NumPy from the context's softmax
    (_log_one_minus_softmax_host); its backward is softmax BCE's with the weights of -log(1 - p) alone
    (_softmax_bce_backward), which keeps the top class's 1 - p and odds out of float32's rounding."""

    @staticmethod
    def forward(ctx, x, host):
        a = _host_array(x)
        top = _top_class(a, host[0])
        rest = _softmax_rest(host, top)
        log_q = _log_one_minus_softmax_host(a, host, top, rest)
        ctx.saved = _log_softmax_host(a, host, rest), log_q, top
        return _from_host(log_q)

    @staticmethod
    def backward(ctx, grad):
        log_p, log_q, top = ctx.saved
        # sum of grad log(1 - p) = softmax BCE with target 0, weights a = 0 and b = -1
        return _from_host(_softmax_bce_backward(_host_array(grad), log_p, log_q, top, 0.0, 0.0, -1.0, 0))


def _softmax_value(x):
    """softmax over axis 1 of eager (N, C, P) logits. Paddle's CPU kernel puts every logit at most 64
    below the top (e^-64 for e^-100): where no pixel's logits span more than 64, it computes the
    exact value, and fastest; elsewhere e^z / (1 + R) (see _softmax_terms), in place in one field."""
    if float(paddle.max(x) - paddle.min(x)) <= 64.0:
        return F.softmax(x, axis=1)
    classes = x.shape[1]
    top = paddle.arange(classes, dtype="int64").reshape([1, classes, 1]) == paddle.argmax(x, axis=1, keepdim=True)
    p = x - paddle.max(x, axis=1, keepdim=True)  # the max is the top's logit exactly
    p.exp_()
    p.masked_fill_(top, 0.0)
    rest = paddle.sum(p, axis=1, keepdim=True)
    p.masked_fill_(top, 1.0)
    return p.divide_(1 + rest)


class _SigmoidFocal(paddle.autograd.PyLayer):
    """Context.sigmoid_focal for class indices, eager on the CPU, in NumPy: with s = (1 - 2g) x and
    w = a g + b (1 - g), the loss w sigmoid(s)^gamma softplus(s) and its slope
    w sigmoid(s)^gamma (gamma sigmoid(-s) softplus(s) + sigmoid(s)) (1 - 2g); sigmoid(+-s) as
    1 / (1 + e^-+s) and softplus(s) = max(s, 0) + log1p(e^-|s|), accurate in both tails (no power of
    a clamped 0), and NumPy's masked operations avoided (ten times slower than arithmetic here). The
    backward computes the terms again from the logits rather than hold three fields between passes;
    the fields that die inside are scratch (_scratch)."""

    @staticmethod
    def forward(ctx, x, parts):
        g, gamma, a, b = parts
        ctx.x, ctx.g, ctx.parts = _host_array(x), _host_array(g), (gamma, a, b)
        sign, sig, other, softplus = _focal_terms(ctx.x, ctx.g, slope=False)
        loss = np.multiply(_focal_power(sig, gamma), softplus, out=_host_empty(sig.shape, sig.dtype))
        return _from_host(_focal_weigh(loss, ctx.g, a, b))

    @staticmethod
    def backward(ctx, grad):
        gamma, a, b = ctx.parts
        sign, sig, other, slope = _focal_terms(ctx.x, ctx.g, slope=True)
        if gamma != 0:
            slope *= other
            slope *= slope.dtype.type(gamma)
            slope += sig
            slope *= _focal_power(sig, gamma)
        else:  # the slope of softplus(s)
            slope = sig
        slope *= sign
        out = np.multiply(slope, _host_array(grad), out=_host_empty(slope.shape, slope.dtype))
        return _from_host(_focal_weigh(out, ctx.g, a, b))


def _scratch(shape, dtype):
    """A NumPy field that dies inside a kernel, from NumPy's allocator: glibc keeps freed blocks for
    the next call, while Paddle's CPU allocator returns each block to the system, so that a fresh
    8 MiB field of its costs about 2000 page faults (3-4 ms here) on every call. Fields that leave
    the kernel come from _host_empty, so that Paddle's statistics count them."""
    return np.empty(shape, dtype=dtype)


def _focal_terms(x, g, slope):
    """(1 - 2g, sigmoid(s), sigmoid(-s) if `slope` else None, softplus(s)) of s = (1 - 2g) x, 0/1 targets;
    scratch fields."""
    sign = np.multiply(g, -2.0, out=_scratch(x.shape, x.dtype))
    sign += 1
    s = np.multiply(x, sign, out=_scratch(x.shape, x.dtype))
    with np.errstate(over="ignore"):  # e^88 and beyond: inf, and 1 / (1 + inf) = 0
        sig = np.negative(s, out=_scratch(x.shape, x.dtype))
        np.exp(sig, out=sig)  # e^-s
        other = np.exp(s, out=_scratch(x.shape, x.dtype))  # e^s
    softplus = np.minimum(sig, other, out=_scratch(x.shape, x.dtype))  # e^-|s|
    np.log1p(softplus, out=softplus)
    softplus += np.maximum(s, 0, out=s)
    del s
    sig += 1
    np.divide(1, sig, out=sig)
    if slope:
        other += 1
        np.divide(1, other, out=other)
    else:
        other = None
    return sign, sig, other, softplus


def _focal_power(sig, gamma):
    """sig ** gamma in a scratch field (gamma 2: the square; 0: ones, as 0 ** 0 = 1)."""
    if gamma == 2:
        return np.multiply(sig, sig, out=_scratch(sig.shape, sig.dtype))
    return np.power(sig, sig.dtype.type(gamma), out=_scratch(sig.shape, sig.dtype))


def _focal_weigh(field, g, a, b):
    """field * (a g + b (1 - g)) in place, exact for 0/1 targets (a + 0 and 0 + b)."""
    if a != b:
        weight = np.multiply(g, field.dtype.type(a), out=_scratch(g.shape, field.dtype))
        rest = np.subtract(1, g, out=_scratch(g.shape, field.dtype))
        rest *= field.dtype.type(b)
        weight += rest
        field *= weight
    elif a != 1:
        field *= field.dtype.type(a)
    return field


class _HostPixelSum(paddle.autograd.PyLayer):
    """Sum over the last axis (keepdim) of an eager CPU tensor (N, C, P) in NumPy: pairwise (error
    O(log P)), three times faster than Paddle's sum along an axis; its backward spreads the gradient
    over the pixels in one pass, where Paddle's broadcast is ten times slower."""

    @staticmethod
    def forward(ctx, t):
        ctx.shape, ctx.dtype = t.shape, t.dtype
        values = _host_array(t)
        return _from_host(np.sum(values, axis=2, keepdims=True))

    @staticmethod
    def backward(ctx, grad):
        out = _host_empty(ctx.shape, np.dtype(_dtype_name(grad)))
        np.copyto(out, _host_array(grad))
        return _from_host(out)


class _SoftmaxCrossEntropy(paddle.autograd.PyLayer):
    """-w_y log softmax(x)_y per pixel, (N, 1, P), of eager CPU logits and class indices y (-1 where
    ignored: 0 there), from the context's softmax (_softmax_host): log p_y = z_y - log1p(R) as
    _softmax_terms (no clip at 64 below the top, and the loss of a confident pixel keeps R's digits).
    Its backward is w_y grad (p - g), balanced at the top class (_balanced_at_top). One image at a
    time (_by_image)."""

    @staticmethod
    def forward(ctx, x, parts):
        softmax, labels, weights = parts
        a = _host_array(x)
        N, P = a.shape[0], a.shape[2]
        labels = labels.reshape(N, 1, P)
        loss = _host_empty((N, 1, P), a.dtype)
        ctx.saved = []
        pixels = np.arange(P)
        for n, (a_n, labels_n, highest, p, total) in enumerate(_by_image(N, a, labels, *softmax)):
            top = _top_class(a_n, highest)
            rest = _softmax_rest((highest, p, total), top)
            index = np.maximum(labels_n, 0)  # an ignored pixel reads class 0, weighed 0
            weight = (labels_n >= 0).astype(a.dtype)
            if weights is not None:
                weight *= weights[index]
            # the entry of each pixel's class in the image's flat (C, P) field: np.take, several times
            # faster than take_along_axis
            entry = index.reshape(P) * P
            entry += pixels
            own = np.take(a_n, entry).reshape(1, 1, P)
            own -= highest
            own -= np.log1p(rest)
            # log p_y itself where p_y is a normal number up to 1/2 (as accurate there, and the keys a
            # top-k or OHEM selection then orders as the literal formula's log p does)
            p_own = np.take(p, entry).reshape(1, 1, P)
            ordinary = (p_own <= 0.5) & (p_own >= np.finfo(a.dtype).tiny)
            own = np.where(ordinary, np.log(np.maximum(p_own, np.finfo(a.dtype).tiny)), own)
            np.multiply(own, weight, out=loss[n : n + 1])
            np.negative(loss[n : n + 1], out=loss[n : n + 1])
            ctx.saved.append((p, entry, weight))
        ctx.shape = a.shape
        return _from_host(loss)

    @staticmethod
    def backward(ctx, grad):
        grad = _host_array(grad)
        out = _host_empty(ctx.shape, grad.dtype)
        for n, (p, entry, weight) in enumerate(ctx.saved):
            scale = grad[n : n + 1] * weight
            d = np.multiply(p, scale, out=out[n : n + 1])
            flat = d.reshape(-1)  # a view: d is a contiguous slice
            flat[entry] = np.take(flat, entry) - scale.reshape(-1)
            _balanced_at_top(d, p)
        return _from_host(out)


class _SquaredError(paddle.autograd.PyLayer):
    """(g - t)^2 with the backward 2 (t - g) grad, g given again by `target` (see Context.squared_error):
    the numbers of paddle.square(g - t) and its gradient, one field fewer while the loss waits for
    its backward pass."""

    @staticmethod
    def forward(ctx, t, parts):
        g, ctx.target = parts
        ctx.save_for_backward(t)
        difference = g - t
        return difference.multiply_(difference)

    @staticmethod
    def backward(ctx, grad):
        (t,) = ctx.saved_tensor()
        slope = ctx.target().scale_(-1.0).add_(t)  # t - g, in the fresh target's field
        return slope.scale_(2.0).multiply_(grad)


class _SoftmaxBCE(paddle.autograd.PyLayer):
    """softmax_bce of an eager CPU call, in NumPy on the tensors' memory: the same accurate log p and
    log(1 - p) (_softmax_bce_forward), and a backward written from them (_softmax_bce_backward)
    instead of the dozen broadcasting Paddle operations autograd would run through."""

    @staticmethod
    def forward(ctx, x, parts):
        g, a, b, first, softmax, own = parts
        host = [_host_array(t) if isinstance(t, TENSORS) else t for t in (x, g, a, b)]
        loss = _host_empty(host[1].shape, host[0].dtype)
        ctx.saved, ctx.shape = [], host[0].shape
        for n, (x_n, g_n, a_n, b_n, *softmax_n) in enumerate(_by_image(host[0].shape[0], *host, *softmax)):
            _, backward = _softmax_bce_forward(x_n, g_n, a_n, b_n, first, softmax_n, own, out=loss[n : n + 1])
            ctx.saved.append(backward)
        return _from_host(loss)

    @staticmethod
    def backward(ctx, grad):
        grad = _host_array(grad)
        out = _host_empty(ctx.shape, grad.dtype)
        for n, (backward, saved) in enumerate(ctx.saved):
            backward(grad[n : n + 1], *saved, out=out[n : n + 1])
        return _from_host(out)


def _by_image(N, *fields, images=1):
    """Each block of `images` images (n:n+images) of every field with N images; numbers and fields
    shared by every image (one row, or none) as they are. Elementwise kernels and sums over the classes
    run one image (or a few small ones) at a time: their temporaries stay in cache and hold one block
    each, and the numbers are the same."""
    def block(field, n):
        shared = not (isinstance(field, np.ndarray) and field.ndim and field.shape[0] == N)
        return field if shared else field[n : n + images]

    for n in range(0, N, images):
        yield [block(f, n) for f in fields]


_CLIPPING = {}


def _softmax_clips(place):
    """Whether Paddle's fused softmax cross-entropy on this device puts every logit at most 64 below
    the top (the CPU kernel does), asked once per device with a two-class probe."""
    key = str(place)
    if key not in _CLIPPING:
        with paddle.no_grad():
            probe = paddle.to_tensor([[0.0, -100.0]], dtype="float32", place=place)
            label = paddle.to_tensor([[1]], dtype="int64", place=place)
            _CLIPPING[key] = float(F.cross_entropy(probe, label, axis=1)) < 99.0
    return _CLIPPING[key]


def _host_view(tensor):
    """A NumPy view of an eager CPU tensor's memory (no copy), or None where Paddle cannot share it.
    Through a detached view: Paddle refuses to export a tensor that requires gradients (the logits)."""
    if not tensor.place.is_cpu_place():
        return None
    try:
        return np.from_dlpack(tensor.detach())
    except (AttributeError, BufferError, RuntimeError, TypeError, ValueError):
        return None


def _extremes(tensor):
    """(min, max) of an eager tensor, as NumPy scalars: read in place on the CPU (a quarter of the
    cost of two Paddle reductions and a host copy), else two reductions and one host sync."""
    values = _host_view(tensor)
    if values is not None:
        return values.min(), values.max()
    low, high = paddle.stack([paddle.min(tensor), paddle.max(tensor)]).numpy()
    return low, high


def _label_range(label):
    """(min, max) of an eager label tensor, as ints."""
    return tuple(int(v) for v in _extremes(label))


class _TargetSums(paddle.autograd.PyLayer):
    """(sum of g t, sum of (1 - g) t, sum of t, sum of g (1 - t), sum of (1 - g) (1 - t)) over the
    valid pixels, each (N, classes, 1), with one gradient field for all, g (d_target - d_missed) +
    (1 - g) (d_complement - d_rejected) + d_pixels, built on a fresh target: autograd would hold the
    products and the target at once (every region loss reads these sums; Tversky's false negatives
    are the fourth, MCC's true negatives the fifth, each computed only where `extra` asks, else 0, and
    the second only where `complement` asks: dice reads g t and t alone).
    Each is summed as it stands, never as a difference of the others (sum(t) - sum(g t) cancels where
    g t ~ t), and the sum of t directly too: the two parts added carry both their rounding errors into
    a loss that differences it against sum(g t) (log_cosh_dice at C = 1)."""

    @staticmethod
    def forward(ctx, t, parts):
        # g: the target for this pass; target() gives it again, fresh, for the backward pass
        # whole: one sum over everything (one class, whole batch); pixel_sum: the context's blocked pixel sum
        # hard: g holds only 0 and 1, so that t - g t is (1 - g) t exactly; extra: the sums of 1 - t asked for
        # logits: a function giving x where t = sigmoid(x), whose 1 - t is summed as sigmoid(-x) (1 - t rounds
        # where t ~ 1), or None
        # host: an eager CPU call, whose sums NumPy takes (the device's are Paddle's)
        # complement: whether the sum of (1 - g) t is asked for (else 0)
        g, target, mask, whole, pixel_sum, hard, extra, logits, host, complement = parts
        ctx.target, ctx.mask, ctx.shape, ctx.dtype, ctx.host = target, mask, t.shape, t.dtype, host
        fields = [_host_view(f) for f in (t, g)] if host else [None]
        if all(f is not None for f in fields):
            host_logits = None if logits is None else _host_view(logits())
            if logits is None or host_logits is not None:
                host_mask = None if mask is None else _host_array(mask)
                sums = _target_sums_host(*fields, host_mask, hard, extra, host_logits, complement)
                if whole:
                    sums = np.sum(sums, axis=(1, 2), keepdims=True)
                return tuple(_from_host(s) for s in sums)

        def total(field):
            return paddle.sum(field).reshape([1, 1, 1]) if whole else pixel_sum(field)

        # ignored pixels left out by selection (t may be undefined there: 0 * nan)
        kept = t if mask is None else paddle.where(mask > 0, t, paddle.zeros([1], dtype=t.dtype))
        pixels_sum = total(kept)
        missed_sum = rejected_sum = None
        if extra:  # the sums of 1 - t, in fields of their own for as long as they are summed
            if logits is None:
                miss = paddle.scale(kept, -1.0, bias=1.0)
            else:  # 1 at an ignored pixel, as 1 - kept is
                miss = _sigmoid_value(-logits())
                if mask is not None:
                    miss = paddle.where(mask > 0, miss, paddle.ones([1], dtype=miss.dtype))
            if "rejected" in extra:
                part = paddle.scale(g, -1.0, bias=1.0).multiply_(miss)
                if mask is not None:  # 1 - t is 1 at an ignored pixel, and so is 1 - g
                    part.multiply_(mask)
                rejected_sum = total(part)
                del part
            missed_sum = total(miss.multiply_(g))
            del miss
        on_target = kept * g
        on_target_sum = total(on_target)
        unasked = paddle.zeros_like(on_target_sum)
        complement_sum = unasked
        if complement:  # the complement in the same field
            if hard:
                rest = on_target.scale_(-1.0).add_(kept)
            else:
                paddle.assign(g, output=on_target)
                rest = on_target.scale_(-1.0, bias=1.0).multiply_(kept)
            complement_sum = total(rest)
        return (on_target_sum, complement_sum, pixels_sum, unasked if missed_sum is None else missed_sum,
                unasked if rejected_sum is None else rejected_sum)

    @staticmethod
    def backward(ctx, d_target, d_complement, d_pixels, d_missed, d_rejected):
        d_target, d_complement = (
            (None if b is None else -b) if a is None else (a if b is None else a - b)
            for a, b in ((d_target, d_missed), (d_complement, d_rejected))
        )
        grad = ctx.target()
        field = _host_view(grad) if ctx.host else None
        if field is not None:  # Paddle's CPU broadcasts of an (N, C, 1) statistic are ten times slower
            # an output no term reads comes back as zeros: left out, with its field
            small = [_nonzero(d) for d in (d_target, d_complement, d_pixels)]
            _spread_statistics(field, *small, None if ctx.mask is None else _host_array(ctx.mask))
            return grad
        if d_complement is not None:
            rest = 1 - grad
            rest.multiply_(d_complement)
        if d_target is None:
            grad = rest if d_complement is not None else paddle.zeros(ctx.shape, dtype=ctx.dtype)
        else:
            grad.multiply_(d_target)
            if d_complement is not None:
                grad.add_(rest)
        if d_pixels is not None:
            grad.add_(d_pixels)
        if ctx.mask is not None:  # (1 - g) is 1 at an ignored pixel: the mask takes it out
            grad.multiply_(ctx.mask)
        return grad


class _LovaszSum(paddle.autograd.PyLayer):
    """sum over the valid pixels of each unit and class of v * w, w the Lovasz weights of the errors e
    (Context.lovasz_weights), in NumPy one row (unit, class) at a time: the sort's keys, order and
    prefix counts exist for one row only, and neither the product nor its gradient is a field until
    the backward pass returns it. The weights (zero at ignored pixels) are the one field kept.

    `form` says what v and e are, from the input t and each row's target g: "given" (v = t, e given),
    "abs" (v = e = |g - t|, Lovasz-softmax) or "hinge" (e = 1 - t (2 g - 1), v = max(e, 0)); the last
    two form no error field at all, and their backward pass reads t and g again (changed in place
    since, the Context's hook refuses them: _check_unchanged) and turns the weights into the gradient
    in their own memory (a second backward pass through a retained graph sorts again). Each row's
    sum is accumulated in float64."""

    @staticmethod
    def forward(ctx, t, parts):
        # errors: the sort keys (N, C, P) for "given"; target_row(images, c): g of a row, (images, P)
        # mask: (N, 1, P) or None; batch: one row per class over the whole batch; hard: g is 0 or 1
        form, errors, target_row, mask, batch, hard = parts
        v = _host_array(t)
        N, P = v.shape[0], v.shape[2]
        e = None if errors is None else _host_array(errors)
        valid = None if mask is None else _host_array(mask).reshape(N, P) > 0
        ctx.weights, sums = _lovasz_pass(form, v, e, target_row, valid, batch, hard)
        ctx.form = form
        if form != "given":  # "given" reads its weights alone: no errors or target kept
            ctx.save_for_backward(t)
            ctx.rows = (target_row, valid, batch, hard)
        return _from_host(sums.astype(v.dtype))

    @staticmethod
    def backward(ctx, grad):
        if ctx.form == "given":  # the weights stay: a retained graph's next pass reads them
            out = _host_empty(ctx.weights.shape, ctx.weights.dtype)
            np.multiply(ctx.weights, _host_array(grad), out=out)
            return _from_host(out)
        form, (saved,), (target_row, valid, batch, hard) = ctx.form, ctx.saved_tensor(), ctx.rows
        t = _host_array(saved)
        out = ctx.weights
        if out is None:
            out = _lovasz_pass(form, t, None, target_row, valid, batch, hard)[0]
        ctx.weights = None  # taken by the gradient
        out *= _host_array(grad)
        N, C, _ = out.shape
        for _, c, images in _lovasz_rows(N, C, batch):  # times the slope of v in t
            row_t, row_g = t[images, c], target_row(images, c)
            if form == "abs":  # d|g - t|/dt = sign(t - g)
                slope = np.subtract(row_t, row_g, dtype=row_t.dtype)
                out[images, c] *= np.sign(slope, out=slope)
            else:  # d max(1 - t (2 g - 1), 0)/dt = -(2 g - 1) where the error is >= 0 (as Paddle's clip)
                slope = np.multiply(row_g, -2, dtype=row_t.dtype)
                slope += 1
                slope *= _lovasz_errors("hinge", row_t, row_g) >= 0
                out[images, c] *= slope
        return _from_host(out)


def _lovasz_pass(form, v, e, target_row, valid, batch, hard):
    """(weights, sums) of _LovaszSum: the weights (N, C, P) in a field of Paddle's allocator, zero at
    ignored pixels, and the float64 sums (units, C, 1), one row sorted at a time."""
    N, C, _ = v.shape
    weights = _host_empty(v.shape, v.dtype)
    sums = np.zeros((1 if batch else N, C, 1), dtype=np.float64)
    for unit, c, images in _lovasz_rows(N, C, batch):
        row_v, row_g = v[images, c], target_row(images, c)  # (images, P) each
        ok = None if valid is None else valid[images]
        own = form != "given"  # the keys are this row's own array, which the sort may take
        keys = _lovasz_errors(form, row_v, row_g) if own else e[images, c]
        w = _lovasz_row_weights(keys, row_g, ok, hard, own)
        del keys
        if form != "given":  # the errors again, after the sort's scratch is gone
            row_v = _lovasz_errors(form, row_v, row_g)
            row_v = row_v if form == "abs" else np.maximum(row_v, 0, out=row_v)
        if ok is not None:  # values selected, not multiplied: one may be undefined there
            row_v = np.where(ok, row_v, 0)
        weights[images, c] = w
        for n in range(w.shape[0]):  # one image at a time: float64 scratch of one image
            sums[unit, c, 0] += np.dot(row_v[n].astype(np.float64), w[n].astype(np.float64))
    return weights, sums


def _lovasz_row_weights(keys, g, valid, hard, own):
    """The Lovasz weights of one row (images, P) of errors `keys` and targets `g`: ignored pixels
    (`valid` False) sort last and weigh 0. `own`: the keys are the caller's to give, and the sort may
    take their memory."""
    if valid is not None and own:
        np.copyto(keys, keys.dtype.type(-np.inf), where=~valid)
    elif valid is not None:
        keys, own = np.where(valid, keys, keys.dtype.type(-np.inf)), True
    w = _lovasz_weights_numpy(keys.reshape(1, -1), g.reshape(1, -1), hard, overwrite=own).reshape(g.shape)
    if valid is not None:
        w *= valid
    return w


def _lovasz_errors(form, t, g):
    """The errors of a row: |g - t| ("abs") or the hinge errors 1 - t (2 g - 1) ("hinge"), computed
    as the generated code computes them (the same keys, so the same order); g may be boolean."""
    if form == "abs":
        out = np.subtract(g, t, dtype=t.dtype)
        return np.abs(out, out=out)
    sign = np.multiply(g, 2, dtype=t.dtype)
    sign -= 1
    out = np.negative(t)
    out *= sign
    out += 1
    return out


def _lovasz_rows(N, C, batch):
    """(unit, class, images) of each row the Lovasz sort orders: a class over the batch (batch=True),
    else a class of one image; `images` indexes the batch axis."""
    for c in range(C):
        if batch:
            yield 0, c, slice(0, N)
        else:
            for n in range(N):
                yield n, c, slice(n, n + 1)


def _nonzero(statistic):
    """A small statistic as a NumPy array, or None where it is absent or all zeros."""
    values = None if statistic is None else statistic.numpy()
    return values if values is not None and values.any() else None


_SUM_BLOCK = 1 << 18  # elements of scratch per step of the host sums: 1 MiB in float32, whatever the batch


def _images_per_block(image_size):
    """Whole images of `image_size` elements that fit in one step of _SUM_BLOCK elements (at least one)."""
    return max(1, _SUM_BLOCK // max(image_size, 1))


def _spread_statistics(g, d_target, d_complement, d_pixels, mask):
    """_TargetSums' gradient field g d_target + (1 - g) d_complement + d_pixels (times the mask), in
    place of the target g (NumPy), in the order of the Paddle path (the same numbers); a block of whole
    images of at most _SUM_BLOCK elements at a time (one image where it is larger), so that
    (1 - g) d_complement needs a field of that block only."""
    N = g.shape[0]
    images = _images_per_block(g[:1].size)
    rest = None if d_complement is None else _scratch((min(images, N),) + g.shape[1:], g.dtype)
    for field, target, complement, pixels, valid in _by_image(N, g, d_target, d_complement, d_pixels, mask, images=images):
        if complement is not None:
            part = rest[: field.shape[0]]
            np.subtract(1, field, out=part)
            part *= complement
        if target is None:
            if complement is None:
                field.fill(0)
            else:
                np.copyto(field, part)
        else:
            field *= target
            if complement is not None:
                field += part
        if pixels is not None:
            field += pixels
        if valid is not None:
            field *= valid


def _target_sums_host(t, g, mask, hard, extra, logits, complement=True):
    """_TargetSums' five sums, each (N, C, 1), of NumPy fields t and g (mask (N, 1, P) or None;
    `logits`: x where 1 - t is sigmoid(-x)), a block of at most _SUM_BLOCK elements at a time: whole
    images where they fit (few steps for small images), else whole class rows of one image. The
    scratch stays a fixed size (a volume's image would be half the batch's memory again) and in cache
    while it is summed. Pairwise sums of whole rows (NumPy along a contiguous axis), in the Paddle
    path's order of operations elementwise."""
    N, C, P = t.shape
    sums = np.zeros((5, N, C, 1), dtype=t.dtype)
    images = _images_per_block(C * P)
    rows = C if images > 1 else max(1, min(C, _SUM_BLOCK // max(P, 1)))
    product = _scratch((min(images, N), rows, P), t.dtype)
    miss = _scratch(product.shape, t.dtype) if extra else None
    for n in range(0, N, images):
        these = slice(n, min(n + images, N))
        count = these.stop - n
        valid = None if mask is None else mask[these] > 0
        for c in range(0, C, rows):
            block = slice(c, min(c + rows, C))
            scratch = [None if f is None else f[:count, : block.stop - c] for f in (product, miss)]
            _block_sums(
                sums[:, these, block], t[these, block], g[these, block], valid,
                None if mask is None else mask[these], hard, extra,
                None if logits is None else logits[these, block], *scratch, complement,
            )
    return sums


def _block_sums(sums, t, g, valid, mask, hard, extra, logits, product, miss, complement):
    """The five sums of fields t, g (images, rows, P) into sums (5, images, rows, 1), the second only
    where `complement` asks; valid and mask (images, 1, P) or None; product and miss are scratch of
    t's shape."""
    # ignored pixels left out by selection (t may be undefined there: 0 * nan)
    kept = t if valid is None else np.where(valid, t, 0).astype(t.dtype, copy=False)
    sums[2] = kept.sum(axis=2, keepdims=True)
    np.multiply(kept, g, out=product)
    sums[0] = product.sum(axis=2, keepdims=True)
    if complement and hard:  # t - g t is (1 - g) t exactly
        np.subtract(kept, product, out=product)
    elif complement:
        np.subtract(1, g, out=product)
        product *= kept
    if complement:
        sums[1] = product.sum(axis=2, keepdims=True)
    if not extra:
        return
    if logits is None:
        np.subtract(1, kept, out=miss)
    else:  # sigmoid(-x) = 1 / (1 + e^x), as _sigmoid_host computes it; 1 at an ignored pixel
        with np.errstate(over="ignore"):
            np.exp(logits, out=miss)
        miss += 1
        np.divide(1, miss, out=miss)
        if valid is not None:
            np.copyto(miss, 1, where=~valid)
    if "rejected" in extra:
        np.subtract(1, g, out=product)
        product *= miss
        if mask is not None:  # 1 - t is 1 at an ignored pixel, and so is 1 - g
            product *= mask
        sums[4] = product.sum(axis=2, keepdims=True)
    miss *= g
    sums[3] = miss.sum(axis=2, keepdims=True)


class Context:
    """One call's inputs in the (N, C, P) layout, and the helpers the loss body is written with.

    Attributes the generated code reads: `activation` (resolved), `g` (target, zero at ignored
    pixels, background dropped if asked), `n_pixels` (valid pixels per unit), `n_classes`.
    `probabilities=False` says the loss never reads p (only the logits), so activation="none"
    does not ask the logit to hold probabilities. `extra_sums` names the sums beyond g t and t the
    loss reads ("complement": complement_sum, "missed": missed_sum, "rejected": rejected_sum), which
    target_sum's step then computes beside them.
    """

    def __init__(
        self,
        function,
        logit,
        label,
        *,
        activation,
        ignore_index,
        include_background,
        batch,
        sync,
        reduction,
        probabilities=True,
        two_classes=False,
        local_only=None,
        extra_sums=(),
    ):
        check_options(
            function,
            activation=activation,
            ignore_index=ignore_index,
            include_background=include_background,
            batch=batch,
            sync=sync,
            reduction=reduction,
        )
        self.function = function
        self.sync_requested = sync  # for the checks: sync below is False in a single process
        self.sync = sync and _world_size() > 1
        # Refused before any statistic is all-reduced, and in a single process too, so that the configuration
        # fails on its first run.
        if local_only and sync and batch:
            _fail(
                function,
                "sync",
                "True with batch=True",
                f"sync=False or batch=False ({local_only} cannot span data-parallel ranks)",
            )
        self._probs = self._log_probs = self._softmax = self._host_parts = None
        self._maps = None  # the distance maps' shared transforms (_batch_map)
        self._split_sums = {}  # id(t): (weak reference to t, sum of g t, (1 - g) t, t, g (1 - t), (1 - g) (1 - t))
        self._sigmoid_probs = {}  # id(p): (weak reference to p, every): the sigmoid probabilities handed out
        self._extra_sums = frozenset(extra_sums)
        self._counts = None  # each class's pixels per image, when target_sum has counted them
        self._unit_weights = []
        if not isinstance(logit, TENSORS):
            _fail(
                function, "logit", type(logit).__name__, "a paddle.Tensor of shape (N, C, *spatial)"
            )
        if not isinstance(label, TENSORS):
            _fail(
                function,
                "label",
                type(label).__name__,
                "a paddle.Tensor of class indices or targets",
            )
        shape = list(logit.shape)
        if len(shape) not in (3, 4, 5):
            _fail(function, "logit", f"shape {shape}", "(N, C, *spatial) with 1 to 3 spatial dims")
        if 0 in shape:
            _fail(function, "logit", f"shape {shape}", "every axis of size at least 1 (not empty)")
        if _dtype_name(logit) not in _FLOATS:
            _fail(
                function,
                "logit",
                f"dtype {_dtype_name(logit)}",
                "float16, bfloat16, float32 or float64",
            )
        self.shape = shape
        self.N, self.C, self.spatial = shape[0], shape[1], shape[2:]
        self.P = math.prod(self.spatial)
        self._blocks = _blocks(self.P)
        self.dtype = "float64" if _dtype_name(logit) == "float64" else "float32"
        self.tiny = 2.2250738585072014e-308 if self.dtype == "float64" else 1.1754943508222875e-38
        x = logit if _dtype_name(logit) == self.dtype else logit.astype(self.dtype)
        self._logit = x  # the logit's own layout (the channels-last cross-entropy transposes it)
        self.x = x.reshape([self.N, self.C, self.P])
        if paddle.in_dynamic_mode() and not self.x.stop_gradient and hasattr(logit, "_inplace_version"):
            self.x.register_hook(_check_unchanged(function, [logit, label]))
        if activation == "softmax" and self.C == 1:
            _fail(
                function,
                "activation",
                "'softmax' with C == 1",
                "'sigmoid' or 'auto' (a softmax over one channel is always 1)",
            )
        self.activation = (
            activation if activation != "auto" else ("sigmoid" if self.C == 1 else "softmax")
        )
        self._probabilities_given = probabilities and self.activation == "none"
        # A loss written for two classes reads one channel as [1 - p, p] (sigmoid(-x) = 1 - sigmoid(x)).
        self.two_channels = two_classes and self.C == 1
        if self.two_channels:
            other = -self.x if self.activation == "sigmoid" else 1 - self.x
            self.x = paddle.concat([other, self.x], axis=1)
            self.C = 2
            self._logit = self.x.reshape([self.N, self.C] + self.spatial)
        self.first = 1 if (not include_background and self.C > 1) else 0
        self.n_classes = self.C - self.first
        self.batch = batch
        self.pixel_axes = [0, 2] if batch else [2]
        self.m = self._target(label, ignore_index)
        if self.m is not None:
            # An ignored pixel's logit gets no gradient, even from a unit with no valid pixel whose formula is
            # singular at its empty sums (its masked entry's gradient would be 0 * inf there).
            self.x = _where(self.m > 0, self.x, self.x.detach())
        self.n_pixels = self._count(self.m)
        if self.m is not None:
            # A unit with no valid pixel has all its sums at zero; counting it as 1 keeps means finite.
            self.n_pixels = paddle.clip(self.n_pixels, min=1.0)

    def _count(self, mask):
        """Valid pixels per unit (over every rank's batch when synchronised)."""
        if mask is None:
            count = float(self.P * (self.N if self.batch else 1))
            if not (self.sync and self.batch):
                return count
            return _all_reduce(paddle.full([1, 1, 1], count, dtype=self.dtype))
        return self._across_ranks(
            paddle.sum(mask, axis=self.pixel_axes, keepdim=True), gradient=False
        )

    def _across_ranks(self, t, gradient=True):
        """Sum over data-parallel ranks when synchronised and the statistic spans the batch."""
        if not (self.sync and self.batch):
            return t
        return _AllReduceSum.apply(t) if gradient else _all_reduce(t)

    @classmethod
    def for_target(cls, function, label, num_classes, ignore_index):
        """A context built from labels alone (for distance maps computed in the data pipeline)."""
        label = label if isinstance(label, TENSORS) else paddle.to_tensor(np.asarray(label))
        if 0 in label.shape or label.ndim < 2:
            _fail(function, "label", f"shape {list(label.shape)}", "(N, *spatial), not empty")
        if not isinstance(num_classes, int) or num_classes < 1:
            _fail(function, "num_classes", repr(num_classes), "a positive int")
        logit = paddle.zeros([label.shape[0], num_classes] + list(label.shape[1:]), dtype="float32")
        return cls(
            function,
            logit,
            label,
            activation="auto",
            ignore_index=ignore_index,
            include_background=True,
            batch=False,
            sync=False,
            reduction="none",
        )

    def stack_maps(self, maps):
        """Target maps as one float32 NumPy array (N, K, C, *spatial)."""
        out = paddle.stack([paddle.broadcast_to(m, [self.N, self.C, self.P]) for m in maps], axis=1)
        return out.reshape([self.N, len(maps), self.C] + self.spatial).astype("float32").numpy()

    def target_maps(self, dist_map, count):
        """The K maps of a `dist_map=` argument, each (N, classes, P) in the compute dtype."""
        if not isinstance(dist_map, TENSORS):
            dist_map = paddle.to_tensor(np.asarray(dist_map))
        expected = [self.N, count, self.C] + self.spatial
        if list(dist_map.shape) != expected:
            _fail(
                self.function,
                "dist_map",
                f"shape {list(dist_map.shape)}",
                f"{expected} (N, maps, C, *spatial), as the loss's *_distance_maps function returns",
            )
        _check_finite(self.function, "dist_map", dist_map)
        maps = dist_map.astype(self.dtype).reshape([self.N, count, self.C, self.P]).detach()
        return [self._drop(maps[:, k]) for k in range(count)]

    def _target(self, label, ignore_index):
        """Validate the labels; keep class indices (-1 where ignored) or the soft target, and return
        the mask (N, 1, P) of kept pixels, or None if nothing is ignored."""
        f = self.function
        dtype = _dtype_name(label)
        self.labels, self._soft, self._g = None, None, None
        if dtype in _FLOATS:
            if list(label.shape) != self.shape:
                _fail(
                    f,
                    "label",
                    f"float shape {list(label.shape)}",
                    f"the logit's shape {self.shape} (soft targets), or integer class indices",
                )
            self._soft = label.astype(self.dtype).reshape([self.N, -1, self.P])
            if paddle.in_dynamic_mode():
                self._check_soft_target()  # the values given, before a single channel becomes two
            if self.two_channels:
                self._soft = paddle.concat([1 - self._soft, self._soft], axis=1)
            return None
        if dtype not in _INTEGERS:
            _fail(f, "label", f"dtype {dtype}", "integer class indices or float targets")
        if len(label.shape) == len(self.shape) and label.shape[1] == 1:
            label = label.squeeze(1)
        if list(label.shape) != [self.N] + self.spatial:
            _fail(
                f,
                "label",
                f"shape {list(label.shape)}",
                f"{[self.N] + self.spatial} or {[self.N, 1] + self.spatial} (class indices) for logit {self.shape}",
            )
        label = label.reshape([self.N, 1, self.P])
        if dtype != "int64":
            label = label.astype("int64")
        classes = 2 if self.C == 1 else self.C
        if paddle.in_dynamic_mode():
            valid = self._checked(label, classes, ignore_index)
        else:
            valid = None if ignore_index is None else label != ignore_index
        self._checked_labels = (
            valid is None and paddle.in_dynamic_mode()
        )  # every label is a class index
        if valid is not None:
            label = _where(valid, label, _full_like(label, -1))  # matches no class
        self.labels = label
        return None if valid is None else valid.astype(self.dtype)

    @property
    def g(self):
        """The target (N, classes, P): one-hot class indices (zero where ignored), or the soft target.
        Computed on first use: a fused kernel reading the class indices never needs it."""
        return self.target()

    def target(self, every=False):
        """The target of the classes in scope, or of every class (`every`, for AllClasses terms)."""
        if self._g is None:
            self._g = self._target_field()
        return self._g if every else self._drop(self._g)

    def _target_field(self):
        """The target of every class, computed (target() keeps it)."""
        if self._soft is not None:
            return self._soft
        return _one_hot(self.labels, self.C, self.dtype, self._checked_labels, self.m is not None,
                        host=self._eager_cpu())

    def _host_values(self, statistics):
        """The label's 0-d `statistics` on the host, and in the same sync the logit checks this call
        needs (its range with activation="none"; its finiteness in debug mode), which raise here."""
        logit_range, debug = self._probabilities_given, _debug()
        if not (logit_range or debug):
            return paddle.stack(statistics).numpy().tolist()
        probes = [t.astype("float64") for t in statistics]
        if debug:
            probes.append(_all_finite(self.x))
        if logit_range:
            probes += [paddle.min(self.x).astype("float64"), paddle.max(self.x).astype("float64")]
        values = paddle.stack(probes).numpy().tolist()
        if debug and values[len(statistics)] == 0.0:
            _fail(
                self.function,
                "logit",
                "NaN or Inf values",
                "finite values (set_checks('debug') is on)",
            )
        if logit_range and not 0.0 <= values[-2] <= values[-1] <= 1.0:
            _fail(
                self.function,
                "logit",
                f"values in [{values[-2]:g}, {values[-1]:g}] with activation='none'",
                "probabilities in [0, 1]; for raw logits pass activation='auto', 'sigmoid' or 'softmax'",
            )
        return values[: len(statistics)]

    def _check_soft_target(self):
        """Reject float targets outside [0, 1] (e.g. class indices or 255 stored as floats), in the
        same host sync as the logit checks."""
        debug = _debug()
        statistics = [paddle.min(self._soft), paddle.max(self._soft)]
        if debug:
            statistics.append(_all_finite(self._soft))
        values = self._host_values(statistics)
        if debug and values[2] == 0.0:
            _fail(
                self.function,
                "label",
                "NaN or Inf values",
                "finite values (set_checks('debug') is on)",
            )
        low, high = values[:2]
        if not 0.0 <= low <= high <= 1.0:
            _fail(
                self.function,
                "label",
                f"float values in [{low:g}, {high:g}]",
                "soft targets in [0, 1]; class indices (e.g. with 255 for ignored pixels) belong in an "
                "integer tensor: label.astype('int64')",
            )

    def _checked(self, label, classes, ignore_index):
        """Reject labels outside [0, classes) that are not ignored; return the mask of kept pixels, or
        None when no pixel is ignored. The common case costs two reductions and one host sync."""
        if self._probabilities_given or _debug():  # the logit checks share the label's host sync
            low, high = (int(v) for v in self._host_values([paddle.min(label), paddle.max(label)]))
        else:
            low, high = _label_range(label)
        in_range = low >= 0 and high < classes
        if in_range and (ignore_index is None or not low <= ignore_index <= high):
            return None  # nothing ignored, nothing out of range
        valid = None if ignore_index is None else label != ignore_index
        outside = (label < 0) | (label >= classes)
        if valid is not None:
            outside = outside & valid
        counts = (
            paddle.stack([paddle.sum(outside.astype("int64")), paddle.sum(valid.astype("int64"))])
            if valid is not None
            else paddle.sum(outside.astype("int64")).reshape([1])
        )
        counts = [int(v) for v in counts.numpy()]
        if counts[0]:
            bad = int(paddle.masked_select(label, outside)[0])
            _fail(
                self.function,
                "label",
                f"value {bad}",
                f"class indices in [0, {classes}) or ignore_index={ignore_index!r}",
            )
        return None if valid is None or counts[1] == label.size else valid

    def _drop(self, t):
        """Leave out the background class (class 0) when asked to."""
        return t[:, self.first :] if self.first else t

    def clamp(self, t):
        """max(t, smallest normal number), with no gradient below it: where no exact stable form exists."""
        if paddle.in_dynamic_mode():
            return paddle.clip(t, min=self.tiny)
        return paddle.maximum(t, paddle.full([], self.tiny, dtype=t.dtype))

    def power(self, base, exponent, guard=True):
        """base ** exponent, the exponent exact in the compute dtype. With `guard`, an exponent below 1
        first clamps the base at the smallest normal number (the gradient of 0 ** e is infinite)."""
        if not isinstance(exponent, TENSORS):
            if exponent == 1:
                return base
            if exponent == 2:
                return paddle.square(base) if isinstance(base, TENSORS) else base * base
            if guard and exponent < 1:
                base = self.clamp(base)
            return base ** self.scalar(exponent)
        return (self.clamp(base) if guard else base) ** exponent

    def const(self, value):
        """A parameter entering a tensor expression: as is in eager mode, a 0-d tensor in a static
        graph (which would store a Python float as a float32 attribute)."""
        if paddle.in_dynamic_mode() or isinstance(value, TENSORS):
            return value
        return paddle.full([], value, dtype=self.dtype)

    def scalar(self, value):
        """A 0-d tensor in the compute dtype (Paddle rounds Python-float exponents to float32)."""
        return value if isinstance(value, TENSORS) else paddle.full([], value, dtype=self.dtype)

    def class_weights(self, name, value, every=False):
        """A ClassWeights parameter as a (1, classes, 1) tensor (ones when None); `every`: (1, C, 1)."""
        if value is None:  # remembered, so fused kernels can take their unweighted (faster) path
            self._unit_weights.append(
                paddle.ones([1, self.C if every else self.n_classes, 1], dtype=self.dtype)
            )
            return self._unit_weights[-1]
        w = (
            value.astype(self.dtype)
            if isinstance(value, TENSORS)
            else paddle.to_tensor(value, dtype=self.dtype)
        )
        if list(w.shape) != [self.C]:
            _fail(
                self.function,
                name,
                f"{w.shape[0] if w.ndim == 1 else list(w.shape)} weights",
                f"one weight per class: {self.C} (background included)",
            )
        return (
            w.reshape([1, self.C, 1]) if every else w[self.first :].reshape([1, self.n_classes, 1])
        )

    def class_set(self, name, every=False):
        """A class set as a (1, classes, 1) tensor of ones and zeros: "background" is class 0, "foreground"
        every other class; in scope (class 0 is out of it with include_background=False), or `every` class.
        """
        background = (paddle.arange(self.C) == 0).astype(self.dtype).reshape([1, self.C, 1])
        chosen = background if name == "background" else 1.0 - background
        return chosen if every else self._drop(chosen)

    def pick_class(self, t, k):
        """Class k of a field over every class, (N, 1, P): a class selection such as p[0, i]."""
        if k >= self.C:
            _fail(
                self.function,
                "logit",
                f"{self.C} channel(s)",
                f"at least {k + 1}: the loss reads class {k}",
            )
        return t[:, k : k + 1]

    # fused kernels: the compiler emits these where the lowered formula is exactly their definition --
    def softmax_cross_entropy(self, weight, every=False):
        """-sum_c weight_c g_c log softmax(x)_c per pixel, (N, 1, P), for class indices over all classes
        (in scope, or `every` class): eager on the CPU from the context's NumPy softmax
        (_SoftmaxCrossEntropy), eager elsewhere Paddle's fused kernel; the same formula written out for
        soft targets, a dropped background or a static graph.
        """
        if self.labels is not None and (self.first == 0 or every) and self.C > 1:
            scale = 1.0 if isinstance(weight, TENSORS) else weight  # a number: every class weighs it
            unit = not isinstance(weight, TENSORS) or self._unit(weight)
            if self._eager_cpu():  # from the context's NumPy softmax: no clip, and faster than the fused kernel
                weights = None if unit else _host_array(weight).reshape(self.C)
                loss = _SoftmaxCrossEntropy.apply(self.x, (self._host_softmax(), _host_array(self.labels), weights))
                return loss if scale == 1.0 else scale * loss
            index = None  # the labels with ignored pixels at class 0 (masked out), where something reads them
            w = 1.0
            if not unit or not paddle.in_dynamic_mode():
                index = paddle.clip(self.labels, min=0)
            if not unit:
                w = paddle.gather(weight.reshape([self.C]), index.reshape([-1])).reshape(index.shape)
            if self.m is not None:
                w = w * self.m
            if not paddle.in_dynamic_mode():
                return -scale * paddle.take_along_axis(self.log_probs(True), index, axis=1) * w
            loss = F.cross_entropy(
                self.x,
                self.labels,
                weight=None if unit else weight.reshape([self.C]),
                axis=1,
                ignore_index=-1,
                reduction="none",
            )
            # The kernel puts every class at most 64 below the top: add back what it cut (its gradient,
            # p - g, is already right). A pixel whose class it cut has a loss of 64 or more; where no
            # loss reaches 64 nothing was cut (one reduction over the losses, not two over the logits).
            if _softmax_clips(self.x.place) and float(_extremes(loss)[1]) >= 64.0:
                if index is None:
                    index = paddle.clip(self.labels, min=0)
                with paddle.no_grad():
                    below = paddle.max(self.x, axis=1, keepdim=True) - paddle.take_along_axis(
                        self.x, index, axis=1
                    )
                    cut = paddle.clip(below - 64.0, min=0.0) * w
                loss = loss + cut
            return loss if scale == 1.0 else scale * loss
        return -paddle.sum(
            weight * self.target(every) * self.log_probs(every), axis=1, keepdim=True
        )

    def _unit(self, weight):
        """Whether `weight` is the ones that class_weights gave for None (every class weighs 1)."""
        return any(weight is unit for unit in self._unit_weights)

    def softmax_bce(self, positive, negative):
        """-(a g log p + b (1 - g) log(1 - p)) per class and pixel, p the softmax, from the accurate
        log p and log(1 - p): a float32 softmax underflows to 0 (or rounds to 1) at logits tens apart,
        where log p and log(1 - p) are still finite."""
        a, b = self.const(positive), self.const(negative)
        g = self.g
        weights = [w for w in (a, b) if isinstance(w, TENSORS)]
        if self._eager_cpu() and all(w.stop_gradient for w in weights):
            # a softmax no other field reads is computed here, and overwritten by log(1 - p)
            own = self._host_parts is None
            softmax = _softmax_host(_host_array(self.x)) if own else self._host_parts
            return _SoftmaxBCE.apply(self.x, (g, a, b, self.first, softmax, own))
        return -(a * g * self.log_probs() + b * (1 - g) * self.log_one_minus_probs())

    def target_weight(self, weight):
        """sum_c weight_c g_c per pixel, (N, 1, P): each pixel's target class weight, gathered from the
        class indices where there are some."""
        if self.labels is not None and self.first == 0 and self.C > 1:
            if self._unit(weight):
                return 1.0  # one class per valid pixel, weighing 1: the plain count
            index = paddle.clip(self.labels, min=0).reshape([-1])  # ignored pixels read class 0 ...
            w = paddle.gather(weight.reshape([self.C]), index).reshape(self.labels.shape)
            return w if self.m is None else w * self.m  # ... and are masked out
        if self.n_classes == 1 and self._unit(weight):
            return self.g  # one class weighing 1
        return self.csum(weight * self.g)

    def sigmoid_bce(self, positive, negative=1):
        """a g softplus(-x) + b (1 - g) softplus(x) (a is Paddle's pos_weight). With class indices each
        element reads one softplus, of -x at a positive and of x elsewhere (sign and weight selected by
        products with the 0/1 target: exact). Soft targets: Paddle's fused binary cross-entropy with
        logits on an accelerator (when b = 1), the two softplus terms elsewhere (on the CPU they are
        faster than that kernel, and than its pos_weight path by 2.5x)."""
        x, g = self.logits(), self.g
        a, b = self.const(positive), self.const(negative)
        scalars = not isinstance(a, TENSORS) and not isinstance(b, TENSORS)
        accelerator = paddle.in_dynamic_mode() and not self._eager_cpu()
        if accelerator and scalars and b == 1:
            weight = None if a == 1 else paddle.full([1], a, dtype=self.dtype)
            return F.binary_cross_entropy_with_logits(x, g, reduction="none", pos_weight=weight)
        if self._soft is None:
            weight = a if scalars and a == b else a * g + b * (1 - g)
            chosen = self.softplus((1 - 2 * g) * x)
            return chosen if scalars and a == b == 1 else weight * chosen
        first = g * self.softplus(-x)
        second = (1 - g) * self.softplus(x)
        return (first if scalars and a == 1 else a * first) + (
            second if scalars and b == 1 else b * second
        )

    def sigmoid_focal(self, gamma, positive, negative):
        """a g sigmoid(-x)^gamma softplus(-x) + b (1 - g) sigmoid(x)^gamma softplus(x) per class and pixel:
        Lin et al.'s focal loss on the logits. With class indices in an eager CPU call, one NumPy kernel
        (_SigmoidFocal: each element reads s = -x at a positive, x elsewhere, and the loss is
        w sigmoid(s)^gamma softplus(s)); elsewhere the terms as written, with the accurate sigmoid and
        softplus."""
        x, g = self.logits(), self.g
        a, b = self.const(positive), self.const(negative)
        numbers = not any(isinstance(v, TENSORS) for v in (gamma, a, b))
        if numbers and self._soft is None and self._host_fields(x):
            return _SigmoidFocal.apply(x, (g, float(gamma), float(a), float(b)))
        first = g * self.power(self.sigmoid(-x), gamma) * self.softplus(-x)
        second = (1 - g) * self.power(self.sigmoid(x), gamma) * self.softplus(x)
        return a * first + b * second

    def squared_error(self, t):
        """(g - t)^2 per class and pixel, with the slope 2 (t - g) from t and the target computed again
        (_SquaredError): autograd would keep the field g - t beside the square."""
        if not paddle.in_dynamic_mode():
            return paddle.square(self.g - t)
        return _SquaredError.apply(t, (self.g, self._target_again()))

    def softplus(self, t):
        """log(1 + e^t), accurate where it is tiny (F.softplus rounds log(1 + e^-30) to 0 in float32),
        with the slope sigmoid(t)."""
        return _Softplus.apply(t, self._host_fields(t)) if paddle.in_dynamic_mode() else _softplus_value(t)

    def log_cosh(self, t):
        """log(cosh t) with neither overflow nor cancellation: log1p(2 sinh(t/2)^2) for |t| < 1 (its slope,
        tanh t, is exact too), |t| - log 2 + log1p(e^-2|t|) beyond (which near 0 subtracts numbers close
        to log 2)."""
        size = paddle.abs(t)
        near = size < 1
        half = paddle.sinh(_where(near, t, _full_like(t, 0)) / 2)
        far = size - math.log(2.0) + paddle.log1p(paddle.exp(-2 * size))
        return _where(near, paddle.log1p(2 * half * half), far)

    def sigmoid(self, t):
        """1 / (1 + e^-t) with a slope accurate where it is tiny: F.sigmoid's backward, p (1 - p), is 0
        once p rounds to 1."""
        return _Sigmoid.apply(t, self._host_fields(t)) if paddle.in_dynamic_mode() else _sigmoid_value(t)

    def indicator(self, t):
        """1 where t > 0, else 0 (no gradient)."""
        return (t > 0).astype(t.dtype)

    # fields --------------------------------------------------------------------------------
    def logits(self, every=False):
        return self.x if every else self._drop(self.x)

    def probs(self, every=False):
        p = self._full_probs() if every else self._drop(self._full_probs())
        if self.activation == "sigmoid":  # its complement is sigmoid(-x): see _complement
            self._sigmoid_probs[id(p)] = (weakref.ref(p), every)
        return p

    def _sigmoid_logits(self, t):
        """The logits x where t = sigmoid(x) is a probability field handed out by probs(), else None."""
        entry = self._sigmoid_probs.get(id(t))
        return self.logits(entry[1]) if entry is not None and entry[0]() is t else None

    def _complement(self, t):
        """1 - t, as sigmoid(-x) where t is the sigmoid probabilities: 1 - p rounds e^-x away once p ~ 1
        (x > 17 in float32), and with it the false negatives of a near-perfect prediction."""
        x = self._sigmoid_logits(t)
        return 1 - t if x is None else self.sigmoid(-x)

    def _complement_logits(self, t):
        """For _TargetSums: a function giving _sigmoid_logits(t), or None. A function, not the tensor:
        a PyLayer takes a tensor among its arguments for an input, and the gradient of x went astray."""
        x = self._sigmoid_logits(t)
        return None if x is None else (lambda: x)

    def _full_probs(self):
        """The activation of every class, computed once per call."""
        if self._probs is None:
            if self.activation == "sigmoid":
                self._probs = self.sigmoid(self.x)
            elif self.activation == "softmax":
                self._probs = (
                    _Softmax.apply(self.x, self._host_softmax())
                    if paddle.in_dynamic_mode()
                    else self._graph_softmax()
                )
            else:
                self._probs = self.x
        return self._probs

    def _graph_softmax(self):
        """softmax(x) in a static graph: e^z / (1 + R), as _Softmax computes it in eager mode."""
        top, shifted, rest = self._softmax_parts()
        return paddle.exp(shifted) / (1 + rest)

    def _softmax_parts(self):
        if self._softmax is None:
            self._softmax = _softmax_terms(self.x)
        return self._softmax

    def _host_softmax(self):
        """(max, p, S) of the logits in NumPy (_softmax_host), once per eager CPU call, where the
        softmax, log softmax and log(1 - softmax) kernels all start from it; None elsewhere."""
        if self._host_parts is None and self._host_fields(self.x):
            self._host_parts = _softmax_host(_host_array(self.x))
        return self._host_parts

    def log_probs(self, every=False):
        """log softmax(x) = z - log1p(R) (see _softmax_terms): no clipping, and accurate where p ~ 1."""
        if self._log_probs is None and self._host_softmax() is not None:
            self._log_probs = _LogSoftmax.apply(self.x, self._host_softmax())
        elif self._log_probs is None:
            top, shifted, rest = self._softmax_parts()
            self._log_probs = shifted - paddle.log1p(rest)
        return self._log_probs if every else self._drop(self._log_probs)

    def _eager_cpu(self):
        """Whether this call runs eagerly on the CPU, where the NumPy paths are the fast ones; in a
        static graph or on an accelerator everything stays in Paddle ops on the device."""
        return paddle.in_dynamic_mode() and self.x.place.is_cpu_place()

    def _host_fields(self, t):
        """Whether an elementwise kernel computes field t in NumPy: eager calls on the CPU (not a
        scalar statistic, where NumPy's call costs more than it saves)."""
        return self._eager_cpu() and len(t.shape) > 0 and t.shape[-1] > 1

    def log_one_minus_probs(self, every=False):
        """log(1 - softmax(x)) without cancellation near p = 1.

        For the top class, 1 - p = R / (1 + R), and log R = logsumexp of z over the other classes (R
        itself underflows once they lie 104 below the top); every other class has p <= 1/2, where
        log1p(-p) is accurate.
        """
        if self._host_softmax() is not None:
            out = _LogOneMinusSoftmax.apply(self.x, self._host_softmax())
            return out if every else self._drop(out)
        top, shifted, rest = self._softmax_parts()
        p = self._full_probs()
        others = _where(top, _full_like(shifted, -math.inf), shifted)
        at_top = paddle.logsumexp(others, axis=1, keepdim=True) - paddle.log1p(rest)
        elsewhere = paddle.log1p(-_where(top, _full_like(p, 0), p))
        out = _where(top, at_top, elsewhere)  # elsewhere is finite at the top too, so that where's
        return out if every else self._drop(out)  # unused branch passes 0, not nan

    # reductions ----------------------------------------------------------------------------
    @staticmethod
    def csum(t):
        """Sum over the classes (axis 1, kept): a field of one class as it is (Paddle's sum along an
        axis of length 1 is a copy, and costs as much forward and backward as a sum)."""
        if t.shape[1] == 1:
            return t
        return paddle.sum(t, axis=1, keepdim=True)

    def psum(self, t):
        """Sum over the pixels of each unit, of a term that is zero at ignored pixels wherever it is finite
        there. Ignored pixels are left out by selection, not by a product: a term undefined at a logit that no
        sum reads (a power of a negative logit) must not reach the sum as 0 * nan."""
        if t.shape[2] == 1 and self.P > 1:  # one value per image (a per-image map): it stands at every pixel
            t = paddle.broadcast_to(t, [t.shape[0], t.shape[1], self.P])
        if self.m is not None:
            t = _where(self.m > 0, t, _full_like(t, 0))
        if self.batch and t.shape[1] == 1:  # one class, whole batch: a full-tensor sum is faster
            total = paddle.sum(t).reshape([1, 1, 1])
        elif self.batch:  # pixels first, then images: shorter accumulation chains in float32
            total = paddle.sum(self._pixel_sum(t), axis=0, keepdim=True)
        else:
            total = self._pixel_sum(t)
        return self._across_ranks(total)

    def _pixel_sum(self, t):
        """Sum over the pixel axis (keepdim) in two levels: blocks of about sqrt(P) pixels, then the
        blocks. Paddle's CPU sum along an axis accumulates in order, so its float32 error grows with
        P (1e-5 at 512x512); in blocks it grows with the block length. Eager on the CPU NumPy sums the
        axis pairwise (_HostPixelSum), three times faster."""
        rows, block = self._blocks
        if self._eager_cpu() and len(t.shape) == 3 and t.shape[2] > 1 and t.dtype in (paddle.float32, paddle.float64):
            return _HostPixelSum.apply(t)
        if block == 1 or t.shape[2] != self.P:
            return paddle.sum(t, axis=2, keepdim=True)
        blocks = paddle.sum(t.reshape([t.shape[0], t.shape[1], rows, block]), axis=3)
        return paddle.sum(blocks, axis=2, keepdim=True)

    def msum(self, t):
        """Sum over the valid pixels of each unit."""
        split = self._known_split(t)
        if split is not None:  # summed by target_sum(t) in the same step, sharing its gradient field
            return split[2]
        return self.psum(t)  # psum leaves the ignored pixels out

    def _known_split(self, t):
        """(sum of g t, sum of (1 - g) t, sum of t) if t was split in this call, else None."""
        entry = self._split_sums.get(id(t))  # (weak reference to t, the three sums)
        return entry[1:] if entry is not None and entry[0]() is t else None

    def _units(self, total, gradient=True):
        """Per-image sums (N, classes, 1) as the statistics of each unit (summed over the batch)."""
        if self.batch:
            total = paddle.sum(total, axis=0, keepdim=True)
        return self._across_ranks(total, gradient=gradient)

    def target_count(self):
        """sum over the pixels of g, (units, classes, 1): counted from the class indices on the CPU,
        with no one-hot target."""
        if self._counts is not None:  # counted by target_sum
            return self._units(self._counts, gradient=False)
        if self.labels is None or not self._eager_cpu():
            return self.psum(self.g)
        labels = _host_array(self.labels).reshape(self.N, self.P)
        first = 1 if self.C == 1 else self.first  # the label of class 0 (C == 1: the class is label 1)
        counts = np.zeros([self.N, self.n_classes, 1], dtype=self.dtype)
        if self.n_classes == 1:
            counts[:, 0, 0] = np.count_nonzero(labels == first, axis=1)
        for image in range(self.N if self.n_classes > 1 else 0):
            # ignored pixels (-1) and a dropped background fall outside the bins kept
            found = np.bincount(labels[image] + 1, minlength=self.C + 2)
            counts[image, :, 0] = found[first + 1 : first + 1 + self.n_classes]
        return self._units(paddle.to_tensor(counts), gradient=False)

    def complement_count(self):
        """sum over the valid pixels of 1 - g, (units, classes, 1): for class indices each unit's valid
        pixels less target_count(), both exact integers, with no field 1 - g."""
        if self._soft is not None:
            return self.msum(1 - self.g)
        return self._count(self.m) - self.target_count()

    def _target_again(self):
        """A function giving the target of the classes in scope anew, as a tensor of its own which the
        caller may overwrite, for a backward pass: it holds the labels (or the soft target), not this
        context and the forward's fields it keeps."""
        first = self.first
        if self._soft is not None:
            soft = self._soft
            return lambda: soft[:, first:] * 1
        labels, C, dtype, checked, ignored = self.labels, self.C, self.dtype, self._checked_labels, self.m is not None
        host = self._eager_cpu()
        return lambda: _one_hot(labels, C, dtype, checked, ignored, first, host)

    def target_sum(self, t):
        """sum over the pixels of g * t, (units, classes, 1); see `_split`."""
        if not self._splits(t):
            return self.psum(self.g * t)
        return self._split(t)[0]

    def complement_sum(self, t):
        """sum over the valid pixels of (1 - g) * t, (units, classes, 1), summed as it stands: written as
        msum(t) - target_sum(t) it cancels wherever g t ~ t (a class covering the image); see `_split`."""
        if not ("complement" in self._extra_sums and self._splits(t)):
            return self.psum((1 - self.g) * t)
        return self._split(t)[1]

    def missed_sum(self, t):
        """sum over the pixels of g * (1 - t), (units, classes, 1): the target's mass t misses (Tversky's
        false negatives), in target_sum's step where the Context was told (`extra_sums`) and summed
        as it stands: sum(g) - target_sum(t) cancels wherever t ~ 1."""
        if not ("missed" in self._extra_sums and self._splits(t)):
            return self.psum(self.g * self._complement(t))
        return self._split(t)[3]

    def rejected_sum(self, t):
        """sum over the valid pixels of (1 - g) * (1 - t), (units, classes, 1): what t rightly leaves out
        (MCC's true negatives), as missed_sum."""
        if not ("rejected" in self._extra_sums and self._splits(t)):
            return self.psum((1 - self.g) * self._complement(t))
        return self._split(t)[4]

    def _splits(self, t):
        return paddle.in_dynamic_mode() and list(t.shape) == [self.N, self.n_classes, self.P]

    def _split(self, t):
        """(sum of g t, sum of (1 - g) t, sum of t) over each unit's valid pixels, once per t.

        In eager mode the three sums come from one step that hands t one gradient field
        (_TargetSums), msum(t) the third: about half the peak memory of the sums apart. The one-hot
        target is not kept for the backward pass but computed again there.
        """
        split = self._known_split(t)
        if split is not None:
            return split
        g = self.g  # kept for this call's other sums; the backward pass computes it again
        whole = self.batch and self.n_classes == 1  # as psum: a full-tensor sum is faster
        if self._counts is None:  # for target_count, from the target at hand
            values = _host_view(g) if self._eager_cpu() else None  # pairwise in NumPy, or in blocks: a soft target's sum is not exact
            if values is not None:
                self._counts = _from_host(np.sum(values, axis=2, keepdims=True))
            elif not whole:
                self._counts = self._pixel_sum(g)
        hard = self._soft is None
        extra = self._extra_sums - {"complement"}
        parts = (g, self._target_again(), self.m, whole, self._pixel_sum, hard, extra,
                 self._complement_logits(t), self._eager_cpu(), "complement" in self._extra_sums)
        sums = _TargetSums.apply(t, parts)
        finish = self._across_ranks if whole else self._units
        asked = (True, "complement" in self._extra_sums, True, "missed" in self._extra_sums,
                 "rejected" in self._extra_sums)
        # t itself is not kept
        self._split_sums[id(t)] = (weakref.ref(t), *(finish(s) if a else None for s, a in zip(sums, asked)))
        return self._split_sums[id(t)][1:]

    def reduce(self, loss, per_class, per_pixel, reduction, denominator=None):
        """Apply `reduction` to a loss whose free axes are classes and/or pixels.

        With `denominator` (the spec's mean_denominator, a constant of the gradient), "mean" is
        sum(loss) / sum(denominator) over the valid entries instead of sum(loss) / count: pooled over
        the batch for a loss per pixel (Paddle's weighted cross-entropy), within each unit first and
        then over the units for a loss per unit (Berman's per-image mean over present classes).
        """
        keep_batch = per_pixel or not self.batch
        shape = [
            self.N if keep_batch else 1,
            self.n_classes if per_class else 1,
            self.P if per_pixel else 1,
        ]
        if list(loss.shape) != shape:
            loss = paddle.broadcast_to(loss, shape)
        valid = self._valid_entries(per_pixel)
        if valid is not None:
            valid = paddle.broadcast_to(valid, shape)
            loss = _where(valid, loss, _full_like(loss, 0))
        if reduction == "none":
            out = ([self.N] if keep_batch else []) + ([self.n_classes] if per_class else [])
            return loss.reshape(out + (self.spatial if per_pixel else []))
        total = self._total(self._sum_all(loss, per_pixel), per_pixel, gradient=True)
        if reduction == "sum":
            return total
        if denominator is not None and not isinstance(denominator, TENSORS):
            denominator = None  # a constant 1 per entry: the plain count
        if denominator is not None:
            denominator = paddle.broadcast_to(denominator.detach(), shape)
            if valid is not None:
                denominator = _where(valid, denominator, _full_like(denominator, 0))
            if not per_pixel:
                return self._mean_of_unit_means(loss, denominator)
            count = self._total(self._sum_all(denominator, per_pixel), per_pixel, gradient=False)
            return total / _where(count > 0, count, _full_like(count, 1))
        if valid is None and not self.sync:
            return total / float(math.prod(shape))
        if valid is None:
            count = paddle.full([], float(math.prod(shape)), dtype=loss.dtype)
        else:
            count = paddle.sum(valid.astype(loss.dtype))
        return total / paddle.clip(self._total(count, per_pixel, gradient=False), min=1.0)

    def _sum_all(self, t, per_pixel):
        """The sum of every entry; over pixels in two levels (see _pixel_sum): Paddle's full sum also
        accumulates in order, and on repeated values its rounding errors add up instead of cancelling."""
        return paddle.sum(self._pixel_sum(t) if per_pixel else t)

    def _mean_of_unit_means(self, loss, denominator):
        """Mean over units of sum(loss) / sum(denominator) within each unit (entries (units, classes, 1));
        a unit whose denominator sums to 0 (no valid pixel, no class present) is left out."""
        weight = paddle.sum(denominator, axis=[1, 2])
        counted = weight > 0
        sums = paddle.sum(loss, axis=[1, 2])
        means = _where(
            counted, sums / _where(counted, weight, _full_like(weight, 1)), _full_like(sums, 0)
        )
        total = self._total(paddle.sum(means), False, gradient=True)
        count = self._total(paddle.sum(counted.astype(loss.dtype)), False, gradient=False)
        return total / paddle.clip(count, min=1.0)

    def _total(self, t, per_pixel, gradient):
        """A reduction's total over every rank's entries when synchronised (entries that a global
        batch statistic already made identical on every rank are counted once)."""
        if not self.sync or (self.batch and not per_pixel):
            return t
        return _AllReduceSum.apply(t) if gradient else _all_reduce(t)

    def _valid_entries(self, per_pixel):
        """Which entries hold a loss: valid pixels, or units with at least one valid pixel."""
        if self.m is None:
            return None
        if per_pixel:
            return self.m > 0
        return self._count(self.m) > 0

    # primitives: fields computed without gradient from whole units or images --------------
    def lovasz_weights(self, errors, target):
        """Weights w with sum_i errors_i * w_i the Lovasz extension of the Jaccard loss (Berman et al.).

        One sort per call for every unit and class: pixels sorted by error, descending (ignored
        pixels last), w the increments of the Jaccard loss of the sorted prefix, put back in order.
        Tied errors keep index order, on every path. The weights carry no gradient, so an eager
        CPU call computes them in NumPy (a radix sort, several times faster than Paddle's CPU sort);
        a static graph or an accelerator sorts with Paddle's stable argsort, on the device.
        """
        e = errors.detach()
        if self.m is not None:
            e = _where(self.m > 0, e, _full_like(e, -float("inf")))
        if self._eager_cpu():
            return self._lovasz_weights_host(e, target.detach())
        t = paddle.broadcast_to(target.detach().astype(e.dtype), e.shape)
        if self.batch:  # one unit: the whole batch, per class
            e, t = (a.transpose([1, 0, 2]).reshape([1, self.n_classes, -1]) for a in (e, t))
        with paddle.no_grad():
            order = paddle.argsort(e, axis=-1, descending=True, stable=True)
            # running sums over every pixel of a unit: in float64, as the host path (float32 loses 1e-5)
            ts = paddle.take_along_axis(t, order, axis=-1).astype("float64")
            steps = _lovasz_steps(
                ts,
                lambda a: paddle.cumsum(a, axis=-1),
                lambda a: paddle.sum(a, axis=-1, keepdim=True),
                lambda c, a, b: _where(c, a, _full_like(a, b)),
            ).astype(e.dtype)
            w = paddle.put_along_axis(_full_like(steps, 0), order, steps, axis=-1)
        if self.batch:
            w = w.reshape([self.n_classes, self.N, self.P]).transpose([1, 0, 2])
        return w

    def lovasz_sum(self, values, errors, target):
        """msum(values * lovasz_weights(errors, target)): the Lovasz extension summed over each unit's
        valid pixels, per class. An eager CPU call sorts and sums one row (unit, class) at a time in
        NumPy (_LovaszSum), keeping only the weights; elsewhere it is that product and sum in Paddle ops."""
        if not (self._host_lovasz(values) and list(errors.shape) == list(values.shape)):
            return self.msum(values * self.lovasz_weights(errors, target))
        t = np.broadcast_to(_host_array(target.detach()), values.shape)
        parts = ("given", errors.detach(), lambda images, c: t[images, c], self.m, self.batch, self._soft is None)
        return self._across_ranks(_LovaszSum.apply(values, parts))

    def lovasz_abs_sum(self, t):
        """lovasz_sum(e, e, g) with e = |g - t| (Lovasz-softmax), with no field g, g - t or e."""
        return self._lovasz_form("abs", t)

    def lovasz_hinge_sum(self, t):
        """lovasz_sum(max(e, 0), e, g) with e = 1 - t (2 g - 1) (the Lovasz hinge), with no field g or e."""
        return self._lovasz_form("hinge", t)

    def _lovasz_form(self, form, t):
        if not self._host_lovasz(t):
            g = self.g
            e = paddle.abs(g - t) if form == "abs" else -t * (2 * g - 1) + 1
            return self.lovasz_sum(e if form == "abs" else paddle.clip(e, min=0), e, g)
        parts = (form, None, self._target_rows(), self.m, self.batch, self._soft is None)
        return self._across_ranks(_LovaszSum.apply(t, parts))

    def _host_lovasz(self, t):
        """Whether the Lovasz sums of field t run in NumPy (_LovaszSum): an eager CPU call, t a float field
        of every class in scope."""
        return (self._eager_cpu() and list(t.shape) == [self.N, self.n_classes, self.P]
                and t.dtype in (paddle.float32, paddle.float64))

    def _target_rows(self):
        """A function giving the target of class c (in scope) at the images `images`, (images, P), in
        NumPy: a slice of the soft target, or the class indices compared (no one-hot field)."""
        if self._soft is not None:
            soft = _host_array(self._soft)[:, self.first:]
            return lambda images, c: soft[images, c]
        labels = _host_array(self.labels).reshape(self.N, self.P)
        C, first = self.C, self.first
        return lambda images, c: labels[images] == (1 if C == 1 else c + first)  # boolean

    def _lovasz_weights_host(self, errors, target):
        """lovasz_weights of an eager CPU call, in NumPy, one row (unit, class) at a time as _LovaszSum
        sorts them (the ignored pixels' errors are -inf already), with a radix sort (about a third of
        NumPy's argsort)."""
        e = _host_array(errors)
        t = np.broadcast_to(_host_array(target), e.shape)
        weights = _host_empty(e.shape, e.dtype)
        for _, c, images in _lovasz_rows(e.shape[0], e.shape[1], self.batch):
            weights[images, c] = _lovasz_row_weights(e[images, c], t[images, c], None, self._soft is None, False)
        return _from_host(weights)

    # order statistics over each unit's valid pixels: selections, constants of the gradient ---------
    def _unit_rows(self, values):
        """Values (N, 1, P) as unit rows (U, L) with ignored pixels marked, and the valid count per row."""
        v = paddle.broadcast_to(values.detach(), [self.N, 1, self.P]).reshape([self.N, self.P])
        valid = _full_like(v, 1) > 0 if self.m is None else self.m.reshape([self.N, self.P]) > 0
        if self.batch:
            v, valid = v.reshape([1, -1]), valid.reshape([1, -1])
        return v, valid, paddle.sum(valid.astype("int64"), axis=1, keepdim=True)

    def _from_units(self, selected):
        return selected.astype(self.dtype).reshape([self.N, 1, self.P])

    def top_percent(self, values, k):
        """1 at the pixels whose values are among the k% largest of their unit (max(1, floor(n k / 100))
        of its n valid pixels), else 0; ties go to the earlier pixel."""
        v, valid, n = self._unit_rows(values)
        keep = paddle.clip(paddle.floor(n.astype("float64") * (float(k) / 100.0)), min=1.0).astype(
            "int64"
        )
        order = paddle.argsort(
            _where(valid, v, _full_like(v, -float("inf"))), axis=1, descending=True, stable=True
        )
        positions = paddle.arange(v.shape[1], dtype="int64").unsqueeze(0).expand_as(order)
        rank = paddle.put_along_axis(_full_like(order, 0), order, positions, axis=1)
        return self._from_units((rank < keep) & valid)

    def ohem_select(self, prob, thresh, min_kept):
        """PaddleSeg's OHEM: with m = floor(min_kept) and 0 < m < n valid pixels, 1 where the true class's
        probability is below max(thresh, its m-th smallest value in the unit), else 1 at every valid pixel.
        """
        v, valid, n = self._unit_rows(prob)
        m = (
            int(math.floor(min_kept))
            if not isinstance(min_kept, TENSORS)
            else paddle.floor(min_kept)
        )
        ranked = paddle.sort(_where(valid, v, _full_like(v, float("inf"))), axis=1)
        index = paddle.clip(_full_like(n, 0) + (m - 1), 0, v.shape[1] - 1).astype("int64")
        kth = paddle.take_along_axis(ranked, index, axis=1)
        threshold = paddle.maximum(kth, _full_like(kth, float(thresh)))
        mine = (n > m) & (_full_like(n, 0) + m > 0)
        return self._from_units(valid & (~mine | (v < threshold)))

    # neighbourhood operators: per image and class, differentiable; ignored pixels lie outside the image
    def images(self, t):
        """A field (N, K, P) as images (N * K, *spatial), with the valid pixels' mask likewise (or None)."""
        t = paddle.broadcast_to(t, [self.N, max(t.shape[1], 1), self.P])
        k = t.shape[1]
        images = t.reshape([self.N * k] + self.spatial)
        if self.m is None:
            return images, None, k
        valid = paddle.broadcast_to(self.m > 0, [self.N, k, self.P]).reshape(
            [self.N * k] + self.spatial
        )
        return images, valid, k

    def from_images(self, images, valid, k):
        """Images (N * K, *spatial) back to a field (N, K, P), zero at ignored pixels."""
        out = images if valid is None else _where(valid, images, _full_like(images, 0))
        return out.reshape([self.N, k, self.P])

    def _erode(self, images, valid):
        """Min over the cross, as clDice computes it: the min of 3-long min-pools along each axis (max-pools
        of the negation, whose padding lies outside the image); ignored pixels are +inf, outside too.
        """
        x = images if valid is None else _where(valid, images, _full_like(images, float("inf")))
        d = x.ndim - 1
        out = None
        for axis in range(d):
            kernel = [3 if a == axis else 1 for a in range(d)]
            padding = [1 if a == axis else 0 for a in range(d)]
            pooled = -_MAX_POOL[d](-x.unsqueeze(1), kernel, stride=1, padding=padding).squeeze(1)
            out = pooled if out is None else paddle.minimum(out, pooled)
        return out if valid is None else _where(valid, out, _full_like(out, 0))

    def _dilate(self, images, valid):
        """Max over the 3x3 (3x3x3) box: one max-pool; ignored pixels are -inf, outside too."""
        x = images if valid is None else _where(valid, images, _full_like(images, -float("inf")))
        out = _MAX_POOL[x.ndim - 1](x.unsqueeze(1), 3, stride=1, padding=1).squeeze(1)
        return out if valid is None else _where(valid, out, _full_like(out, 0))

    def _open(self, images, valid):
        return self._dilate(self._erode(images, valid), valid)

    def soft_erode(self, t):
        """Min over each pixel's cross (clDice's soft erosion), per image and class."""
        images, valid, k = self.images(t)
        return self.from_images(self._erode(images, valid), valid, k)

    def soft_dilate(self, t):
        """Max over each pixel's 3x3 (3x3x3) box (clDice's soft dilation), per image and class."""
        images, valid, k = self.images(t)
        return self.from_images(self._dilate(images, valid), valid, k)

    def soft_open(self, t):
        images, valid, k = self.images(t)
        return self.from_images(self._open(images, valid), valid, k)

    def soft_skeleton(self, t, iters):
        """clDice's soft skeleton after floor(iters) erosions, per image and class."""
        images, valid, k = self.images(t)
        skel = F.relu(images - self._open(images, valid))
        for _ in range(int(iters)):
            images = self._erode(images, valid)
            delta = F.relu(images - self._open(images, valid))
            skel = skel + F.relu(delta - skel * delta)
        return self.from_images(skel, valid, k)

    def hausdorff_erosion(self, t, alpha, k):
        """kornia's erosion accumulation of an error map, per image and class: floor(k) times, convolve with the
        cross of weight 1 / (2 d + 1) (zero outside), relu(. - 1/2), min-max normalise over the image's valid
        pixels unless max == min, and add (step ** alpha) times the result."""
        bound, valid, rows = self.images(t)
        axes = list(range(1, bound.ndim))
        weight = 1.0 / (2 * len(axes) + 1)
        zero = _full_like(bound, 0)
        if valid is not None:
            bound = _where(valid, bound, zero)
        eroded = bound * 0.0  # in the graph even when k < 1 (then the gradient is zero)
        for step in range(1, int(k) + 1):
            total = bound
            for axis in axes:
                total = total + _shift(bound, axis, 1, 0.0) + _shift(bound, axis, -1, 0.0)
            erosion = F.relu(total * self.const(weight) - 0.5)
            if valid is not None:
                erosion = _where(valid, erosion, zero)
            high = (
                erosion
                if valid is None
                else _where(valid, erosion, _full_like(erosion, -float("inf")))
            )
            low = (
                erosion
                if valid is None
                else _where(valid, erosion, _full_like(erosion, float("inf")))
            )
            high, low = _image_extreme(high, paddle.argmax), _image_extreme(low, paddle.argmin)
            spread = high - low
            moving = spread != 0
            erosion = _where(
                moving, (erosion - low) / _where(moving, spread, _full_like(spread, 1)), erosion
            )
            if valid is not None:
                erosion = _where(valid, erosion, zero)
            eroded = eroded + erosion * self.const(float(step) ** alpha)
            bound = erosion
        return self.from_images(eroded, valid, rows)

    def _per_image(self, name, *fields):
        """A distance map of (class, image) masks for every image and class; no gradient.

        Ignored pixels belong to neither side of a mask (see runtime/distance_maps.py), so the
        values there, e.g. the logits of ignored pixels, change no map. An eager call on the CPU
        runs the NumPy version (runtime/distance_maps.py); a static graph, a tensor on an accelerator,
        or an eager call where neither edt nor SciPy is installed runs the Paddle version below on the
        device, which gives the same numbers (exact squared distances).
        """
        shape = [self.N, -1] + self.spatial
        # detach() in a static graph aliases its input (and made repeated runs nondeterministic here);
        # the graph maps only compare values, so nothing flows back through them anyway.
        fields = [(f.detach() if paddle.in_dynamic_mode() else f).reshape(shape) for f in fields]
        n_classes = max(f.shape[1] for f in fields)
        on_host = self._eager_cpu()
        if on_host and name in BATCH_MAPS:
            transform = transform_for(self.spatial)
            if transform is not None:
                return self._batch_map(name, transform, fields, n_classes)
        fields = [paddle.broadcast_to(f, [self.N, n_classes] + self.spatial) for f in fields]
        valid = None if self.m is None else (self.m > 0).reshape([self.N] + self.spatial)
        if on_host and _has_scipy():
            function = NUMPY_MAPS[name]
            arrays = [f.numpy() for f in fields]
            masks = [None] * self.N if valid is None else valid.numpy()
            out = np.stack(
                [
                    np.stack(
                        [
                            function(*(a[b, k] for a in arrays), valid=masks[b])
                            for k in range(n_classes)
                        ]
                    )
                    for b in range(self.N)
                ]
            )
            return paddle.to_tensor(out.reshape([self.N, n_classes, self.P]), dtype=self.dtype)
        images = [f.reshape([-1] + self.spatial) for f in fields]
        if valid is not None:
            valid = paddle.broadcast_to(
                valid.unsqueeze(1), [self.N, n_classes] + self.spatial
            ).reshape([-1] + self.spatial)
        out = GRAPH_MAPS[name](*images, valid=valid)
        return out.reshape([self.N, n_classes, self.P]).astype(self.dtype)

    def _batch_map(self, name, transform, fields, n_classes):
        """_per_image of an eager call, for every image and class at once (runtime/distance_maps.py):
        fields read in place and thresholded on the host, one transform shared by a mask and its
        complement, and a per-image value as (N, classes, 1) rather than a full map."""
        if self._maps is None:
            self._maps = MapBatch(transform, self.spatial)
        shape = [self.N, n_classes] + self.spatial
        masks = [np.broadcast_to(_host_array(f) > 0.5, shape) for f in fields]  # read in place
        valid = None
        if self.m is not None:
            valid = _host_array(self.m > 0).reshape([self.N, 1] + self.spatial)
            valid = np.broadcast_to(valid, shape)
        function, per_image = BATCH_MAPS[name]
        out = function(self._maps, *masks, valid, np.dtype(self.dtype).type)
        if per_image:  # the same value at every valid pixel of the image
            out = out.reshape([self.N, n_classes, 1])
            if valid is None:
                return _from_host(out)
            out = np.where(valid.reshape([self.N, n_classes, self.P]), out, 0).astype(out.dtype)
        return _from_host(out.reshape([self.N, n_classes, self.P]))

    def distance_field(self, mask):
        return self._per_image("distance_field", mask)

    def boundary_weight(self, mask):
        return self._per_image("boundary_weight", mask)

    def contour_distance(self, prediction, target):
        return self._per_image("contour_distance", prediction, target)

    def signed_distance(self, mask):
        return self._per_image("signed_distance", mask)


def _one_hot(labels, C, dtype, checked, ignored, first=0, host=False):
    """The target (N, C - first, P) of class indices (N, 1, P) for the classes from `first` on, -1 where
    ignored (`ignored`): zero there in every class. C == 1 reads label 1 as the class (`checked`:
    every label is 0 or 1). Eager on the CPU (`host`) one class at a time in NumPy, into the field
    itself: Paddle's one_hot and its transpose hold two fields and take three times as long."""
    N, P = labels.shape[0], labels.shape[2]
    values = _host_view(labels) if host else None
    if values is not None:
        index = values.reshape(N, P)
        g = _host_empty((N, C - first, P), np.dtype(dtype))
        for k in range(first, C):  # an ignored pixel (-1) matches no class
            g[:, k - first] = index == (1 if C == 1 else k)
        return _from_host(g)
    if first:
        return _one_hot(labels, C, dtype, checked, ignored)[:, first:].contiguous()
    if C == 1:
        return labels.astype(dtype) if checked else (labels == 1).astype(dtype)
    # F.one_hot is far faster on the CPU than a broadcast comparison; ignored pixels (-1) become an
    # extra class C that is sliced away, so their target is zero in every class.
    index = _where(labels < 0, _full_like(labels, C), labels) if ignored else labels
    g = F.one_hot(index.reshape([N, P]), C + ignored).transpose([0, 2, 1])[:, :C]
    # contiguous once: each product with a strided view would copy it again
    return g.astype(dtype) if dtype != "float32" else g.contiguous()


def _blocks(pixels):
    """(rows, block) with rows * block == pixels and block the largest divisor <= sqrt(pixels)."""
    block = max(d for d in range(1, math.isqrt(pixels) + 1) if pixels % d == 0)
    return pixels // block, block


def _host_array(tensor):
    """An eager CPU tensor as a NumPy array: a view of its memory where Paddle shares it, else a copy."""
    values = _host_view(tensor)
    return tensor.numpy() if values is None else values


def _host_empty(shape, dtype):
    """An uninitialised NumPy array in memory from Paddle's CPU allocator (a view of a fresh tensor),
    so that the fields NumPy computes for a loss are counted, and freed, as Paddle's own."""
    values = _host_view(paddle.empty(list(shape), dtype=np.dtype(dtype).name))
    return np.empty(shape, dtype=dtype) if values is None else values


def _from_host(array):
    """A NumPy array as a CPU tensor, sharing its memory where Paddle can."""
    try:
        return paddle.from_dlpack(np.ascontiguousarray(array))
    except (AttributeError, BufferError, RuntimeError, TypeError, ValueError):
        return paddle.to_tensor(array)


@functools.lru_cache(maxsize=None)
def _has_scipy():
    """Whether SciPy imports (asked on the first distance map: losses without one never load it)."""
    try:
        import scipy.ndimage  # noqa: F401
    except ImportError:
        return False
    return True


def _lovasz_steps(ts, cumsum, row_sum, where):
    """The step J_k - J_(k-1) of the Jaccard loss of each sorted prefix, for targets `ts` in sorted
    order, written as one fraction of non-negative terms (differencing J would lose small steps):
    [(G - c_(k-1)) (1 - t_k) + t_k (G + n_(k-1))] / [(G + n_(k-1)) (G + n_k)], with c and n the
    running counts of positives and negatives and G all positives; 1 for the first pixel when G = 0.
    """
    positives = row_sum(ts)
    hits, misses = cumsum(ts), cumsum(1 - ts)
    before = positives + misses - (1 - ts)
    numerator = (positives - hits + ts) * (1 - ts) + ts * before
    denominator = before * (positives + misses)
    ok = denominator > 0
    return where(ok, numerator / where(ok, denominator, 1.0), 1.0)


def _descending_keys(errors, overwrite=False):
    """Unsigned integer keys, one row per (row, ...) of `errors`, whose ascending order is the errors'
    descending order: the float's bits, sign-folded (-0.0 ties 0.0; -inf, ignored pixels, last).
    `overwrite`: the keys may take the memory of `errors` (C-contiguous, no longer needed)."""
    kind = np.uint32 if errors.dtype == np.float32 else np.uint64
    out = errors if overwrite and errors.flags.c_contiguous else None
    bits = np.add(errors, errors.dtype.type(0.0), out=out, order="C").view(kind)  # + 0.0: -0.0 becomes 0.0
    bits = bits.reshape(bits.shape[0], -1)
    top = kind(1) << kind(8 * bits.itemsize - 1)
    positive = bits < top
    np.invert(bits, out=bits, where=positive)
    np.bitwise_xor(bits, top, out=bits, where=positive)
    return bits


_COMPOSE_BLOCK = 1 << 16  # indices composed at a time by _stable_order (a 512 KiB copy)


def _stable_order(keys):
    """The stable ascending order of one row of unsigned keys: an LSD radix sort, one stable sort of
    each 16-bit digit (NumPy sorts 16-bit integers by counting), so tied keys keep index order. The
    digits are read in place where the machine is little-endian, and each pass composes its order
    into the last one's memory: two index arrays at a time, the row's largest scratch."""
    digits = 8 * keys.itemsize // 16
    halves = keys.view(np.uint16) if sys.byteorder == "little" else None
    order = None
    for k in range(digits):
        digit = halves[k::digits] if halves is not None else (keys >> keys.dtype.type(16 * k)).astype(np.uint16)
        if order is None:
            order = np.argsort(digit, kind="stable")
            continue
        step = np.argsort(digit[order], kind="stable")
        for start in range(0, len(step), _COMPOSE_BLOCK):  # order[step] into step's memory, a block at a time
            block = step[start : start + _COMPOSE_BLOCK]
            block[...] = order[block]  # the block's indices are read (a copy) before it is written
        order = step
    return order


def _lovasz_weights_numpy(errors, targets, hard, overwrite=False):
    """lovasz_weights in NumPy for rows errors[r] (any layout), sorted by error, descending, ties in
    index order (the order of Paddle's stable argsort on the graph path). `hard`: targets are 0 or 1,
    and the prefix counts are exact integers. `overwrite`: the sort keys may take the errors' memory."""
    rows = errors.shape[0]
    length = errors[0].size
    dtype = errors.dtype
    keys = _descending_keys(errors, overwrite)
    if hard:
        targets = np.greater(targets, 0.5, order="C").reshape(rows, length)
        exact = dtype.type(length) < dtype.type(2 ** np.finfo(dtype).nmant + 1)
        counts = dtype if exact else np.int64  # integers the float holds exactly, else int64
    else:
        targets = np.asarray(targets, order="C").reshape(rows, length)
    weights = None  # after the first sort, whose scratch is the largest
    for r in range(rows):
        order = _stable_order(keys[r])
        weights = np.empty((rows, length), dtype=dtype) if weights is None else weights
        ts = targets[r][order]
        if hard:  # the same fraction as _lovasz_steps, its terms counted, in three fields
            hits = np.cumsum(ts, dtype=counts)
            total = hits[-1]
            after = np.arange(1, length + 1, dtype=counts)
            after += total
            after -= hits
            after = after.astype(dtype, copy=False)  # G + n_k
            before = after - ~ts  # G + n_(k-1)
            numerator = np.subtract(total, hits, out=hits).astype(dtype, copy=False)
            np.copyto(numerator, before, where=ts)
            denominator = np.multiply(before, after, out=after)
            steps = np.divide(numerator, denominator, out=before, where=denominator > 0)
            steps[~(denominator > 0)] = 1
        else:  # soft targets: running sums over up to millions of terms, accumulated in float64
            wide = ts.astype(np.float64)
            steps = _lovasz_steps(wide, np.cumsum, lambda a: a.sum(keepdims=True), np.where)
        weights[r][order] = steps
    return weights


_MAX_POOL = {1: F.max_pool1d, 2: F.max_pool2d, 3: F.max_pool3d}  # by the number of spatial dims


def _top_class(x, highest):
    """Boolean (N, C, P): the first class holding the largest logit of each pixel (NumPy's argmax
    along a middle axis is many times slower than these C comparisons)."""
    top = np.empty(x.shape, dtype=bool)
    seen = np.zeros(highest.shape, dtype=bool)
    for k in range(x.shape[1]):
        here = top[:, k : k + 1]
        np.equal(x[:, k : k + 1], highest, out=here)
        here &= ~seen
        seen |= here
    return top


def _balanced_at_top(d, p):
    """A softmax gradient d (its entries add up to 0 over the classes) with the entry of the class
    holding more than half the mass p replaced by minus the others' sum: there d_top takes the
    difference of two numbers that float32 rounds to the same (p_top ~ 1), the others are small
    terms. A pixel where no class holds half the mass keeps its d."""
    top = p > 0.5  # at most one class per pixel
    return _at_top(d, top, -_below_top_sum(d, top))


def _at_top(field, top, values):
    """`field` with `values` (N, 1, P) at the top class, in place: by arithmetic one class at a time,
    which is many times faster than boolean indexing or a broadcasting where and holds no second
    field, wherever the values are finite."""
    if not np.isfinite(values).all():
        return np.where(top, values, field)
    for k in range(field.shape[1]):
        here, at = field[:, k : k + 1], top[:, k : k + 1]
        here *= ~at
        here += at * values
    return field


def _below_top_sum(field, top):
    """Sum over the classes of `field` at every class but the top, (N, 1, P), one class at a time."""
    total = np.zeros(field[:, :1].shape, dtype=field.dtype)
    for k in range(field.shape[1]):
        total += field[:, k : k + 1] * ~top[:, k : k + 1]
    return total


def _softmax_host(x):
    """(max, p, S) of NumPy logits x (N, C, P) over axis 1: p = e^z / S, z = x - max and S the sum of e^z
    (the softmax with no clip), in a Paddle buffer (_host_empty). No class field beside p: the
    kernels that need the top class or the others' mass R find them (_softmax_rest)."""
    reduced = (x.shape[0], 1) + x.shape[2:]  # the maximum and the sum: fields of Paddle's allocator too
    highest = np.max(x, axis=1, keepdims=True, out=_host_empty(reduced, x.dtype))
    p = np.subtract(x, highest, out=_host_empty(x.shape, x.dtype))
    np.exp(p, out=p)
    total = np.sum(p, axis=1, keepdims=True, out=_host_empty(reduced, x.dtype))
    p /= total
    return highest, p, total


def _softmax_rest(softmax, top):
    """R, the sum of e^z over the classes but the top, (N, 1, P): p S summed below the top (each term
    within two roundings of e^z), never S - 1, which cancels where R is below float32's resolution
    of 1 (where log p_top = -log1p(R) needs R's digits)."""
    highest, p, total = softmax
    rest = _below_top_sum(p, top)
    rest *= total
    return rest


def _log_softmax_host(x, softmax, rest, out=None):
    """log softmax = z - log1p(R) from _softmax_host's parts and R (_softmax_rest), into `out` if given."""
    log_p = np.subtract(x, softmax[0], out=_host_empty(x.shape, x.dtype) if out is None else out)
    log_p -= np.log1p(rest)
    return log_p


def _log_one_minus_softmax_host(x, softmax, top, rest, out=None):
    """log(1 - p) from _softmax_host's parts, the top class and R (_softmax_rest): log1p(-p) below the
    top (p <= 1/2 there), and at the top log R - log1p(R), log R a logsumexp of the others where R
    underflows (they lie 104 below the top). Into `out` if given (p itself where the caller may
    overwrite it)."""
    highest, p, total = softmax
    log_q = np.multiply(p, ~top, out=_host_empty(p.shape, p.dtype) if out is None else out)  # 0 at the top
    np.negative(log_q, out=log_q)
    np.log1p(log_q, out=log_q)
    with np.errstate(divide="ignore"):
        log_rest = np.log(rest)  # accurate wherever R is a normal number
    small = rest < np.finfo(x.dtype).tiny
    if small.any():  # R underflowed: a logsumexp of the others at those pixels
        z = x - highest
        z -= top * np.finfo(z.dtype).max  # the top out of the others' logsumexp
        second = z.max(axis=1, keepdims=True)
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
            z -= second
            np.exp(z, out=z)
            exact = np.log(z.sum(axis=1, keepdims=True)) + second
            # every other class at -inf: R = 0 exactly, log R = -inf
            exact[~np.isfinite(second) | (second <= -np.finfo(z.dtype).max)] = -np.inf
        log_rest = np.where(small, exact, log_rest)
    return _at_top(log_q, top, log_rest - np.log1p(rest))


_FAST_ODDS = np.exp(-40.0)  # R at or above it: the top's odds 1 / R at most e^40 (see _softmax_bce_backward_fast)


def _softmax_bce_forward(x, g, a, b, first, softmax, own, out=None):
    """-(a g log p + b (1 - g) log(1 - p)) over the classes from `first` on, p = softmax(x) over axis 1
    of (N, C, P) logits (`softmax`: _softmax_host's parts; `own`: its p may be overwritten), and the
    backward with what it reads: (function, arguments). log p = z - log1p(R) and log(1 - p) as
    _log_one_minus_softmax_host. Where the others' mass R is at least e^-40 at every pixel, the
    backward reads p and R alone (_softmax_bce_backward_fast), and log p, log(1 - p) die here."""
    top = _top_class(x, softmax[0])
    rest = _softmax_rest(softmax, top)
    fast = bool(rest.min() >= _FAST_ODDS)  # then log p and log(1 - p) die here, in scratch
    log_p = _log_softmax_host(x, softmax, rest, out=_scratch(x.shape, x.dtype) if fast else None)
    field = _scratch(x.shape, x.dtype) if fast else softmax[1] if own else None
    log_q = _log_one_minus_softmax_host(x, softmax, top, rest, out=field)
    scope = slice(first, None)
    loss = np.multiply(log_p[:, scope], g, out=_host_empty(g.shape, log_p.dtype) if out is None else out)
    loss *= a
    off = 1 - g
    off *= log_q[:, scope]
    off *= b
    loss += off
    np.negative(loss, out=loss)
    if fast:
        return loss.astype(x.dtype, copy=False), (_softmax_bce_backward_fast, (softmax[1], rest, top, g, a, b, first))
    return loss.astype(x.dtype, copy=False), (_softmax_bce_backward, (log_p, log_q, top, g, a, b, first))


def _softmax_bce_backward_fast(grad, p, rest, top, g, a, b, first, out=None):
    """_softmax_bce_backward from p itself where the top's odds 1 / R are at most e^40, in a third of
    its operations and no exponential: with A = w a g, B = w b (1 - g) and o = p / (1 - p), the entry
    of class j below the top is p_j K - A_j + B_j o_j, K = sum over k of (A_k - B_k o_k) with the
    top's B o as B_top / R (its 1 - p would round); below the top p <= 1/2, so 1 - p is exact to
    rounding, and p_j / R <= 1. The entries add up to 0 over the classes (p is a softmax): the top's
    is minus the others' sum, which keeps its small 1 - p out of the difference of two near-equal
    numbers."""
    below = ~top
    off_target = np.empty(p.shape, dtype=p.dtype) if not first else np.zeros(p.shape, dtype=p.dtype)  # B
    np.subtract(1, g, out=off_target[:, first:])
    off_target[:, first:] *= grad
    if not (np.isscalar(b) and b == 1):
        off_target[:, first:] *= b
    targeted = not (np.isscalar(a) and a == 0)  # A is 0 for log(1 - p) alone
    if targeted:
        on_target = np.multiply(g, grad, out=_scratch(g.shape, p.dtype))  # A
        if not (np.isscalar(a) and a == 1):
            on_target *= a
    odds = np.multiply(p, below, out=_scratch(p.shape, p.dtype))  # 0 at the top: 1 - p rounds to 0 there
    np.divide(odds, np.subtract(1, odds, out=_scratch(p.shape, p.dtype)), out=odds)
    odds *= off_target  # B o below the top, 0 at it
    top_off_target = np.multiply(off_target, top, out=off_target).sum(axis=1, keepdims=True)
    total = odds.sum(axis=1, keepdims=True)
    total += top_off_target / rest
    np.negative(total, out=total)
    if targeted:
        total += on_target.sum(axis=1, keepdims=True)  # K
    out = np.multiply(p, total, out=_host_empty(p.shape, p.dtype) if out is None else out)
    if targeted:
        out[:, first:] -= on_target
    out += odds
    out *= below
    out -= top * out.sum(axis=1, keepdims=True)
    return out


def _softmax_bce_backward(grad, log_p, log_q, top, g, a, b, first, out=None):
    """The gradient of _softmax_bce_forward's sum against `grad`. With A = w a g, B = w b (1 - g) and
    o = p / (1 - p), d/dx_j = -A_j (1 - p_j) + B_j p_j + p_j sum over k != j of (A_k - B_k o_k).
    The top class's 1 - p is e^log(1 - p), not 1 - p (which float32 rounds to 0); its sums over the
    other classes are taken over them alone, not as the total less its own (which cancels); and the
    top's odds, which overflow once the others lie 88 below, enter only as p_j o_top =
    e^(log p_j + log o_top), at most 1."""
    below = ~top
    off_target = np.zeros(log_p.shape, dtype=log_p.dtype)  # B
    off_target[:, first:] = 1 - g
    off_target[:, first:] *= grad
    off_target[:, first:] *= b
    terms = log_p - log_q  # log odds
    top_log_odds = terms.max(axis=1, keepdims=True)  # the odds grow with p: the top's are the largest
    terms *= below
    np.exp(terms, out=terms)  # o <= 1 below the top
    terms *= below  # 0 at the top, whose B enters below
    terms *= off_target
    np.negative(terms, out=terms)
    targeted = not (np.isscalar(a) and a == 0)  # A is 0 for log(1 - p) alone
    if targeted:
        terms[:, first:] += grad * a * g  # A_k - B_k o_k, A_top at the top
    given = out
    out = np.subtract(terms.sum(axis=1, keepdims=True), terms, out=_host_empty(terms.shape, terms.dtype) if out is None else out)
    terms *= below
    out = _at_top(out, top, terms.sum(axis=1, keepdims=True))
    del terms
    out += off_target
    out *= np.exp(log_p)
    top_off_target = (off_target * top).sum(axis=1, keepdims=True)
    del off_target
    cross = log_p + top_log_odds
    cross *= below
    np.exp(cross, out=cross)
    cross *= below
    cross *= top_off_target
    out -= cross
    del cross
    if targeted:
        on_target = np.exp(log_q[:, first:])
        on_target *= grad
        on_target *= a
        on_target *= g
        out[:, first:] -= on_target
    if given is not None and out is not given:  # _at_top made a new field (values not finite)
        np.copyto(given, out)
        out = given
    return out


def _image_extreme(images, arg):
    """Each image's max (arg=paddle.argmax) or min, (B, 1, ...), its gradient routed to the first pixel that
    holds it, as a global max-pool does (Paddle's reduction would split it among ties, and slowly on the CPU).
    """
    flat = images.reshape([images.shape[0], -1])
    picked = paddle.take_along_axis(flat, arg(flat, axis=1, keepdim=True), axis=1)
    return picked.reshape([-1] + [1] * (images.ndim - 1))


def _shift(t, axis, offset, fill):
    """t moved along `axis` so that out[j] = t[j + offset] (offset +1 or -1), `fill` where that leaves the image."""
    n = t.shape[axis]
    edge = _full_like(paddle.slice(t, [axis], [0], [1]), fill)
    if n == 1:
        return edge
    if offset > 0:
        return paddle.concat([paddle.slice(t, [axis], [1], [n]), edge], axis=axis)
    return paddle.concat([edge, paddle.slice(t, [axis], [0], [n - 1])], axis=axis)


# ---- distance maps as Paddle ops, for static graphs: images are (B, *spatial) ----
def _min_plus(f, axis):
    """min over k of f[..k..] + (j - k)^2 along `axis`: one pass of the exact squared distance transform."""
    f = paddle.moveaxis(f, axis, -1)
    shape = f.shape
    length = shape[-1]
    rows = f.reshape([-1, length])
    k = paddle.arange(length, dtype=f.dtype)
    cost = (k.unsqueeze(1) - k.unsqueeze(0)) ** 2
    chunk = max(1, 2**24 // (length * length))
    parts = [
        paddle.min(rows[s : s + chunk].unsqueeze(-1) + cost, axis=1)
        for s in range(0, rows.shape[0], chunk)
    ]
    return paddle.moveaxis(paddle.concat(parts, axis=0).reshape(shape), -1, axis)


def _edt(inside):
    """Euclidean distance from each `inside` pixel to the nearest pixel outside (0 outside); exact."""
    spatial = inside.shape[1:]
    big = float(sum(s * s for s in spatial) + 1)
    f = _where(
        inside, paddle.full(inside.shape, big, "float64"), paddle.zeros(inside.shape, "float64")
    )
    for axis in range(1, inside.ndim):
        f = _min_plus(f, axis)
    return paddle.sqrt(f)


def _any(mask):
    axes = list(range(1, mask.ndim))
    return paddle.any(mask, axis=axes, keepdim=True)


def _graph_sides(values, valid):
    """(inside, outside) of a mask among the valid pixels; ignored pixels belong to neither."""
    inside = values > 0.5
    if valid is None:
        return inside, ~inside
    return inside & valid, ~inside & valid


def _graph_zero_ignored(out, valid):
    return out if valid is None else _where(valid, out, _full_like(out, 0))


def _graph_distance_field(values, valid=None):
    fg, bg = _graph_sides(values, valid)
    both = _any(fg) & _any(bg)
    out = _where(both, _edt(~bg) + _edt(~fg), paddle.zeros(fg.shape, "float64"))
    return _graph_zero_ignored(out, valid)


def _graph_boundary_weight(values, valid=None):
    region, outside = _graph_sides(values, valid)
    d = _edt(~outside)
    axes = list(range(1, region.ndim))
    top = paddle.max(_where(region, d, _full_like(d, 0)), axis=axes, keepdim=True)
    keep = region & _any(region) & _any(outside)
    safe = _where(top > 0, top, _full_like(top, 1))
    return _where(keep, (top - d) / safe, _full_like(d, 0))


def _graph_signed_distance(values, valid=None):
    fg, bg = _graph_sides(values, valid)
    both = _any(fg) & _any(bg)
    signed = _where(fg, 1.0 - _edt(~bg), _edt(~fg))
    return _graph_zero_ignored(_where(both, signed, paddle.zeros(fg.shape, "float64")), valid)


def _graph_contour(values, valid):
    fg, bg = _graph_sides(values, valid)
    kept = (
        ~bg
    )  # the mask and the ignored pixels: a mask pixel whose neighbours are all here is inside
    eroded = kept
    for axis in range(1, fg.ndim):
        edge = _full_like(
            paddle.slice(kept, [axis], [0], [1]), True
        )  # outside the image counts as foreground
        before = paddle.concat(
            [edge, paddle.slice(kept, [axis], [0], [kept.shape[axis] - 1])], axis=axis
        )
        after = paddle.concat(
            [paddle.slice(kept, [axis], [1], [kept.shape[axis]]), edge], axis=axis
        )
        eroded = eroded & before & after
    return fg & ~eroded


def _graph_contour_distance(prediction, target, valid=None):
    pred, true = _graph_contour(prediction, valid), _graph_contour(target, valid)
    d = _edt(~true)
    axes = list(range(1, pred.ndim))
    count = paddle.sum(pred.astype("float64"), axis=axes, keepdim=True)
    total = paddle.sum(_where(pred, d, _full_like(d, 0)), axis=axes, keepdim=True)
    mean = total / paddle.clip(count, min=1.0)
    keep = (count > 0) & _any(true)
    out = paddle.broadcast_to(_where(keep, mean, _full_like(mean, 0)), pred.shape)
    return _graph_zero_ignored(out, valid)


GRAPH_MAPS = {
    "distance_field": _graph_distance_field,
    "boundary_weight": _graph_boundary_weight,
    "contour_distance": _graph_contour_distance,
    "signed_distance": _graph_signed_distance,
}
