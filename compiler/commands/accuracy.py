"""`symloss accuracy`: float32 error of every loss against the 100-digit oracle, written to docs/accuracy.md.

The implementations measured are the generated loss, its literal translation (the spec emitted with
no rewrite, no shared statistic), and Paddle's own kernel where one computes the same loss.
"""
from __future__ import annotations

import math
import time
from pathlib import Path

from ..frontend.errors import SpecError
from ..proof import accuracy as acc

PREAMBLE = """# float32 accuracy

Every loss, evaluated in float32 on float32 inputs, against its literal formula evaluated at 100
digits on the same inputs. Written by `symloss accuracy` (the full corpus below); the tests run the
same measurement on 64x64 images (`tests/test_accuracy.py`).
"""

METHOD = """## Method

- **Implementations.** *generated*: `symloss.paddle.<name>_loss`; *literal*: the same spec emitted
  with no rewrite and no shared statistic (`render_loss(..., optimize=False)`), on the same runtime;
  *Paddle*: Paddle's own kernel where one computes the same loss (`F.binary_cross_entropy_with_logits`,
  `F.cross_entropy`, `F.sigmoid_focal_loss`; only on rows whose options it takes). Each runs in float32,
  forward and backward, with default parameters and `reduction="mean"`.
- **Oracle.** The spec's literal formula at 100 digits (mpmath) on the same float32 inputs, with its
  exact gradient (`compiler/proof/pooled.py`). Each array of the formula is held as codes into a table
  of its distinct values, and each operation is evaluated once per distinct combination of its
  arguments; a sum over pixels weighs each distinct value by the number of pixels holding it (exact
  integers). So the result is exact to 100 digits however large the image, and the cost follows the
  number of distinct values, which the corpus keeps small. It agrees with the pixel-by-pixel oracle
  (`compiler/proof/oracle.py`) to float64 rounding on every loss (`tests/test_accuracy.py`).
- **Errors.** Value: |v - v*| / |v*|. Gradient (with respect to the logits): ||g - g*||_2 / ||g*||_2.
  For the Lovász losses, which sort pixels, the gradient is compared after averaging it over each
  set of pixels with equal inputs in a unit: a sort may leave tied pixels in any order, each order
  gives its own valid subgradient, and only their mean is defined.
- **Condition.** kappa = sum_i |x_i dL/dx_i| / |L|, from the exact gradient: the relative change of the
  loss when every logit moves by one part in 1/u, divided by u (u = 2^-24). Where kappa u > 1e-5 the
  loss itself is ill-conditioned and no float32 evaluation can promise 1e-5; there the value target is
  the literal translation's error.
- **Targets.** No NaN or Inf where the oracle is finite; value error <= 1e-5 (or, ill-conditioned, no
  worse than the literal's); gradient error <= 1e-4; on every row, generated <= 2 x literal, value and
  gradient (errors below one float32 ulp, 2^-23, count as one ulp).
"""


def _say(text: str = "") -> None:
    print(text, flush=True)


def paddle_implementation(function, params: dict) -> acc.Implementation:
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
        raise acc.NotApplicable("options")
    if label.dtype.kind == "i" and np.any(label == options.ignore_index):
        raise acc.NotApplicable("ignored pixels")


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
            raise acc.NotApplicable("softmax activation")
        weight = None if pos_weight is None else paddle.full([1], pos_weight, dtype="float32")
        return F.binary_cross_entropy_with_logits(x, target(label, C), pos_weight=weight)

    def cross_entropy(x, label, options, C):
        if C == 1 or options.batch or not options.include_background:
            raise acc.NotApplicable("C == 1" if C == 1 else "options")
        if label.dtype.kind == "f":
            return F.cross_entropy(x, paddle.to_tensor(label), soft_label=True, axis=1)
        return F.cross_entropy(x, paddle.to_tensor(label), axis=1, ignore_index=options.ignore_index)

    def focal(x, label, options, C):
        _plain(options, x, label)
        if C != 1:
            raise acc.NotApplicable("softmax activation")
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
    from symloss.benchmarks.literal import load_literals
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
