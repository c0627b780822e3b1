"""PaddleSeg's losses as baselines: the real `paddleseg` package, patched in this process only.

PaddleSeg 2.8.0 (the newest release) predates Paddle 3. Its CrossEntropyLoss multiplies a float
mask by an int64 `ones_like(label)`, which Paddle 3's type promotion rejects; the one documented
fix (shared/research/perf.md section 2) is applied here to a subclass, never to the installed
package. DiceLoss writes into its label argument, so it gets a fresh copy per call.
"""
from __future__ import annotations

import inspect
import sys
import textwrap
from functools import lru_cache

from .baselines import Baseline, NotApplicable

BCE = "pseg.BCELoss"
DICE = "pseg.DiceLoss"
LOVASZ_SOFTMAX = "pseg.LovaszSoftmaxLoss"
LOVASZ_HINGE = "pseg.LovaszHingeLoss"
LOVASZ_HINGE_PER_CLASS = "pseg.LovaszHingeLoss per class"
LOVASZ_SOFTMAX_TWO = "pseg.LovaszSoftmaxLoss on [0, x]"
FOCAL = "pseg.FocalLoss"
MULTI_CLASS_FOCAL = "pseg.MultiClassFocalLoss"
CROSS_ENTROPY = "pseg.CrossEntropyLoss"
OHEM = "pseg.OhemCrossEntropyLoss"

INSTALL_HINT = "not installed: pip install --no-deps paddleseg==2.8.0 (see docs/performance.md)"
CE_PATCH = ("coef = paddle.ones_like(label)", "coef = paddle.ones_like(label, dtype='float32')")
# PaddleSeg's develop branch makes the same cast; 2.8.0 adds an int64 mask to float probabilities.
OHEM_PATCH = ("prob = prob + (1 - valid_mask)", "prob = prob + (1 - valid_mask).astype(prob.dtype)")

notes: list[str] = []  # what was patched or failed, for the report


@lru_cache(maxsize=None)
def load():
    """(paddleseg.models.losses, version, None) or (None, None, why it is unavailable)."""
    try:
        import paddleseg
        from paddleseg.models import losses
    except ModuleNotFoundError as err:
        if (err.name or "").split(".")[0] == "paddleseg":
            return None, None, INSTALL_HINT
        return None, None, f"not importable: {type(err).__name__}: {err}"[:200]
    except Exception as err:  # numpy 2 with paddleseg's pinned OpenCV raises ImportError/RuntimeError
        first = str(err).strip().splitlines()[0] if str(err).strip() else ""
        return None, None, f"not importable: {type(err).__name__}: {first}"[:200]
    return losses, getattr(paddleseg, "__version__", "?"), None


def _losses():
    losses, _, why = load()
    if losses is None:
        raise NotApplicable(why)
    return losses


@lru_cache(maxsize=None)
def cross_entropy_class():
    """PaddleSeg's CrossEntropyLoss, patched only if its unpatched form fails on this Paddle."""
    import paddle

    base = _losses().CrossEntropyLoss
    x = paddle.randn([1, 2, 4, 4])
    label = paddle.randint(0, 2, [1, 4, 4])
    try:
        base()(x, label)
        notes.append("pseg.CrossEntropyLoss runs unpatched on this Paddle.")
        return base
    except Exception as err:
        first = str(err).strip().splitlines()[0]
        failure = f"{type(err).__name__}: {first[:80]}{'...' if len(first) > 80 else ''}"
    source = textwrap.dedent(inspect.getsource(base._post_process_loss))
    old, new = CE_PATCH
    if source.count(old) != 1:
        raise NotApplicable(f"unpatched fails ({failure}) and the documented patch no longer applies")
    namespace = {}
    code = compile(source.replace(old, new), inspect.getsourcefile(base), "exec")
    exec(code, vars(sys.modules[base.__module__]), namespace)  # the module's globals are read, not changed
    notes.append(f"pseg.CrossEntropyLoss patched in the benchmark process only: `{old}` -> `{new}` "
                 f"(unpatched it fails on Paddle 3: {failure}).")
    return type("CrossEntropyLoss", (base,), {"_post_process_loss": namespace["_post_process_loss"]})


@lru_cache(maxsize=None)
def ohem_class():
    """PaddleSeg's OhemCrossEntropyLoss, patched only if its unpatched form fails on this Paddle once the
    hard-example selection is active."""
    import paddle

    base = _losses().OhemCrossEntropyLoss
    x = paddle.randn([1, 2, 4, 4])
    label = paddle.randint(0, 2, [1, 4, 4])
    try:
        base(min_kept=2)(x, label)
        notes.append("pseg.OhemCrossEntropyLoss runs unpatched on this Paddle.")
        return base
    except Exception as err:
        first = str(err).strip().splitlines()[0]
        failure = f"{type(err).__name__}: {first[:80]}{'...' if len(first) > 80 else ''}"
    source = textwrap.dedent(inspect.getsource(base.forward))
    old, new = OHEM_PATCH
    if source.count(old) != 1:
        raise NotApplicable(f"unpatched fails ({failure}) and the patch no longer applies")
    namespace = {}
    code = compile(source.replace(old, new), inspect.getsourcefile(base), "exec")
    exec(code, vars(sys.modules[base.__module__]), namespace)  # the module's globals are read, not changed
    notes.append(f"pseg.OhemCrossEntropyLoss patched in the benchmark process only: `{old}` -> `{new}` "
                 f"(unpatched it fails on Paddle 3 once OHEM is active: {failure}).")
    return type("OhemCrossEntropyLoss", (base,), {"forward": namespace["forward"]})


def _module(name):
    """A loss module of the package (MultiClassFocalLoss is registered but not exported)."""
    import importlib

    _losses()
    return importlib.import_module(f"paddleseg.models.losses.{name}")


def _layer(make_layer, check=None):
    def make(C):
        if check:
            check(C)
        layer = make_layer(_losses(), C)
        return lambda x, label: layer(x, label)

    return make


def _hinge_per_class(C):
    """PaddleSeg's binary LovaszHingeLoss on each class against the rest, averaged over the classes
    (what the multi-class hinge computes; PaddleSeg's own loss takes one channel only)."""
    if C < 2:
        raise NotApplicable("needs C >= 2 (C = 1 is pseg.LovaszHingeLoss itself)")
    import paddle

    layer = _losses().LovaszHingeLoss()

    def fn(x, label):
        parts = [layer(x[:, k : k + 1], paddle.where(label == layer.ignore_index, label, (label == k).astype(label.dtype)))
                 for k in range(C)]
        return paddle.add_n(parts) / C

    return fn


def _softmax_two_channels(C):
    """PaddleSeg's LovaszSoftmaxLoss on the logits [0, x] of a binary problem: a different formula from
    the one-channel Lovasz-Softmax (it averages the background's loss in), timed for scale."""
    if C != 1:
        raise NotApplicable("for C = 1 (binary logits)")
    import paddle

    layer = _losses().LovaszSoftmaxLoss()
    return lambda x, label: layer(paddle.concat([paddle.zeros_like(x), x], axis=1), label)


def _need(condition, why):
    def check(C):
        if not condition(C):
            raise NotApplicable(why)

    return check


PADDLESEG_BASELINES = {
    b.id: b
    for b in (
        Baseline(BCE, _layer(lambda L, C: L.BCELoss()), "paddleseg"),
        Baseline(DICE, _layer(lambda L, C: L.DiceLoss(), _need(lambda C: C >= 2, "needs C >= 2")),
                 "paddleseg", fresh_label=True, note="writes into its label: a fresh copy per call"),
        Baseline(LOVASZ_SOFTMAX, _layer(lambda L, C: L.LovaszSoftmaxLoss(),
                                        _need(lambda C: C >= 2, "zero gradient at C = 1")), "paddleseg"),
        Baseline(LOVASZ_HINGE, _layer(lambda L, C: L.LovaszHingeLoss(),
                                      _need(lambda C: C == 1, "binary only (C = 1)")), "paddleseg"),
        Baseline(LOVASZ_HINGE_PER_CLASS, _hinge_per_class, "paddleseg",
                 note="one call per class, one-vs-rest, averaged"),
        Baseline(LOVASZ_SOFTMAX_TWO, _softmax_two_channels, "paddleseg",
                 note="two channels [0, x]: averages in the background's loss (other formula)"),
        Baseline(FOCAL, _layer(lambda L, C: L.FocalLoss(), _need(lambda C: C == 2, "asserts C == 2")),
                 "paddleseg"),
        Baseline(MULTI_CLASS_FOCAL, _layer(lambda L, C: _module("focal_loss").MultiClassFocalLoss(num_class=C),
                                           _need(lambda C: C >= 2, "needs C >= 2")), "paddleseg",
                 note="softmax focal (alpha 1, gamma 2): a different formula, timed for scale"),
        Baseline(CROSS_ENTROPY, _layer(lambda L, C: cross_entropy_class()(),
                                       _need(lambda C: C >= 2, "needs C >= 2")), "paddleseg",
                 note="int64 coef patched (see notes)"),
        Baseline(OHEM, _layer(lambda L, C: ohem_class()(), _need(lambda C: C >= 2, "needs C >= 2")), "paddleseg",
                 note="int64 mask patched (see notes); divides by the kept fraction + 1e-5, so its value differs "
                      "from the exact mean by about 1e-5 x pixels / kept"),
    )
}
