"""The implementations `symloss accuracy` measures, as functions of float32 NumPy inputs: the generated
loss, its literal translation, and Paddle's own kernel where one computes the same loss. Each runs in
float32, forward and backward, with the loss's default parameters and reduction "mean"."""
from __future__ import annotations

from symloss.compiler.frontend.errors import SpecError
from symloss.compiler.proof.accuracy import Implementation, NotApplicable

def paddle_implementation(function, params: dict) -> Implementation:
    """A symloss.paddle loss as an Implementation: float32 forward and backward, reduction "mean"."""
    import numpy as np
    import paddle

    def run(logit, label, options):
        x = paddle.to_tensor(logit, dtype="float32", stop_gradient=False)
        out = function(x, paddle.to_tensor(label), **params, activation=options.activation,
                       ignore_index=options.ignore_index, include_background=options.include_background,
                       batch=options.batch, reduction=options.reduction)
        out.backward()
        return float(out), np.asarray(x.grad.numpy(), dtype=np.float64)

    return run


def _one_hot(label, C):
    """Integer labels (N, H, W) as float32 targets (N, C, H, W); C = 1: the foreground (label 1)."""
    import numpy as np

    if C == 1:
        return (label == 1).astype(np.float32)[:, None]
    return (label[:, None] == np.arange(C)[None, :, None, None]).astype(np.float32)


def _plain(options, logit, label):
    """Reject rows a kernel without our common keywords cannot take: ignored pixels, batch statistics."""
    import numpy as np

    if options.batch or options.activation != "auto" or not options.include_background:
        raise NotApplicable("options")
    if label.dtype.kind == "i" and np.any(label == options.ignore_index):
        raise NotApplicable("ignored pixels")


def _kernel(compute):
    """An Implementation from compute(x tensor, label array, C) -> loss tensor."""
    import numpy as np
    import paddle

    def run(logit, label, options):
        x = paddle.to_tensor(logit, dtype="float32", stop_gradient=False)
        out = compute(x, label, options, logit.shape[1])
        out.backward()
        return float(out), np.asarray(x.grad.numpy(), dtype=np.float64)

    return run


def paddle_kernels(params: dict) -> dict:
    """{loss name: Paddle's own kernel for it, as an Implementation} (default activation: sigmoid at C == 1)."""
    import paddle
    import paddle.nn.functional as F

    def target(label, C):
        t = label if label.dtype.kind == "f" else _one_hot(label, C)
        return paddle.to_tensor(t)

    def bce(x, label, options, C, pos_weight=None):
        _plain(options, x, label)
        if C != 1:
            raise NotApplicable("softmax activation")
        weight = None if pos_weight is None else paddle.full([1], pos_weight, dtype="float32")
        return F.binary_cross_entropy_with_logits(x, target(label, C), pos_weight=weight)

    def cross_entropy(x, label, options, C):
        if C == 1 or options.batch or not options.include_background:
            raise NotApplicable("C == 1" if C == 1 else "options")
        if label.dtype.kind == "f":
            return F.cross_entropy(x, paddle.to_tensor(label), soft_label=True, axis=1)
        return F.cross_entropy(x, paddle.to_tensor(label), axis=1, ignore_index=options.ignore_index)

    def focal(x, label, options, C):
        _plain(options, x, label)
        if C != 1:
            raise NotApplicable("softmax activation")
        return F.sigmoid_focal_loss(x, target(label, C), alpha=params.get("alpha", 0.25),
                                    gamma=params.get("gamma", 2.0), reduction="mean")

    return {
        "bce": _kernel(bce),
        "weighted_bce": _kernel(lambda x, lab, o, C: bce(x, lab, o, C, params.get("beta", 1.0))),
        "cross_entropy": _kernel(cross_entropy),
        "focal": _kernel(focal),
    }


def implementations(registry: dict, name: str) -> dict:
    """{"generated", "literal", "Paddle"?: Implementation} for one loss, default parameters."""
    from .literal import load_literals
    from symloss.paddle import FUNCTIONS

    if name not in FUNCTIONS:
        raise SpecError(f"{name} has no generated code: run `symloss build` first")
    literals, missing = load_literals([name])
    if name in missing:
        raise SpecError(f"the literal translation of {name} failed: {missing[name]}")
    defaults = {p.name: p.default for p in registry[name].params if p.kind == "scalar"}
    params = {k: float(v) for k, v in defaults.items()}
    found = {"generated": paddle_implementation(FUNCTIONS[name], {}),
             "literal": paddle_implementation(literals[name], {})}
    kernel = paddle_kernels(params).get(name)
    if kernel is not None:
        found["Paddle"] = kernel
    return found
