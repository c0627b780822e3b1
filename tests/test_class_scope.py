"""Class selection and per-term class scope: AllClasses(...), p[0, i], background[c] / foreground[c].

A spec outside the bundle mixes every construct; its generated code must match its oracle under every
include_background, batch, reduction and activation, and the constructs must mean what they say.
"""
import importlib.util
import textwrap

import numpy as np
import pytest

from symloss.compiler.backend.emit import render_loss
from symloss.compiler.frontend.errors import SpecError
from symloss.compiler.frontend.loader import load_registry
from symloss.compiler.proof.oracle import Options, Oracle

paddle = pytest.importorskip("paddle")
import paddle.nn.functional as F  # noqa: E402

SPEC = '''
"""Every class-scope construct in one formula."""
from symloss.compiler.dsl import AllClasses, Loss, Mean, Sum, background, c, foreground, g, i, log, p, ref

LOSS = Loss(name="{name}", title="Scoped", family="compound", paper="arXiv:0000.00000", summary="A test.",
            expr={expr})
'''
MIXED = ('AllClasses(Mean(Sum(-g[c, i] * log(p[c, i]), c), i)) + Mean(ref("dice", smooth=1), c)'
         ' + Mean(Sum(background[c] * p[c, i] + foreground[c] * p[c, i] ** 2, c), i) + Mean(p[0, i] * g[0, i], i)')


def compile_spec(tmp_path, name, expr):
    path = tmp_path / f"{name}.py"
    path.write_text(SPEC.format(name=name, expr=expr))
    registry = load_registry([path])
    out = tmp_path / f"gen_{name}.py"
    out.write_text(render_loss(registry[name], registry, standalone=True))
    module_spec = importlib.util.spec_from_file_location(f"gen_{name}", out)
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return registry, getattr(module, f"{name}_loss")


def inputs(rng, classes, activation):
    shape = (2, classes, 2, 3)
    logit = rng.uniform(0.05, 0.95, size=shape) if activation == "none" else rng.normal(0, 2, size=shape)
    label = rng.integers(0, max(classes, 2), size=(2, 2, 3))
    label[0, 0, 0] = 255
    return logit, label


def run(fn, logit, label, **kw):
    x = paddle.to_tensor(logit, stop_gradient=False)
    out = fn(x, paddle.to_tensor(label), **kw)
    out.sum().backward()
    return out.numpy(), x.grad.numpy()


@pytest.mark.parametrize("classes", [1, 2, 3])
def test_scoped_formula_matches_its_oracle(tmp_path, classes):
    registry, fn = compile_spec(tmp_path, "scoped", MIXED)
    oracle = Oracle(registry["scoped"], registry)
    rng = np.random.default_rng(classes)
    for include_background in (True, False):
        for batch in (False, True):
            for reduction in ("mean", "none"):
                for activation in ("auto", "sigmoid", "none"):
                    logit, label = inputs(rng, classes, activation)
                    kw = dict(activation=activation, include_background=include_background, batch=batch,
                              reduction=reduction)
                    value, grad = run(fn, logit, label, **kw)
                    expected, expected_grad = oracle(logit, label, {}, Options(**kw))
                    np.testing.assert_allclose(value, expected, rtol=1e-8, atol=1e-10, err_msg=str(kw))
                    np.testing.assert_allclose(grad, expected_grad, rtol=1e-8, atol=1e-10, err_msg=str(kw))


def test_all_classes_term_keeps_the_background_that_include_background_drops(tmp_path):
    _, fn = compile_spec(tmp_path, "ce_all", "AllClasses(Mean(Sum(-g[c, i] * log(p[c, i]), c), i))")
    _, scoped = compile_spec(tmp_path, "ce_scoped", "Mean(Sum(-g[c, i] * log(p[c, i]), c), i)")
    rng = np.random.default_rng(0)
    logit, label = inputs(rng, 3, "auto")
    x, y = paddle.to_tensor(logit), paddle.to_tensor(label)
    logp = F.log_softmax(x, axis=1).numpy()
    valid = label != 255
    nll = -np.take_along_axis(logp, np.where(valid, label, 0)[:, None], axis=1)[:, 0]
    expected = np.mean([nll[b][valid[b]].mean() for b in range(2)])  # per image, then over images
    for include_background in (True, False):
        np.testing.assert_allclose(float(fn(x, y, include_background=include_background)), expected, rtol=1e-12)
    # the same term without AllClasses loses class 0's pixels when the background is dropped
    assert abs(float(scoped(x, y, include_background=False)) - expected) > 1e-3


def test_class_sets_split_class_zero_from_the_rest(tmp_path):
    _, fn = compile_spec(tmp_path, "sets", "Sum(background[c] * p[c, i] + 10 * foreground[c] * p[c, i], c)")
    rng = np.random.default_rng(1)
    logit, label = inputs(rng, 3, "auto")
    probs = F.softmax(paddle.to_tensor(logit), axis=1).numpy()
    full = fn(paddle.to_tensor(logit), paddle.to_tensor(label), reduction="none").numpy()
    valid = label != 255  # ignored pixels hold no loss
    np.testing.assert_allclose(full[valid], (probs[:, 0] + 10 * (probs[:, 1] + probs[:, 2]))[valid], rtol=1e-12)
    dropped = fn(paddle.to_tensor(logit), paddle.to_tensor(label), reduction="none",
                 include_background=False).numpy()
    np.testing.assert_allclose(dropped[valid], 10 * (probs[:, 1] + probs[:, 2])[valid], rtol=1e-12)


def test_selected_class_beyond_the_channels_is_a_value_error(tmp_path):
    _, fn = compile_spec(tmp_path, "second", "Mean(p[1, i], i)")
    x = paddle.zeros([1, 1, 2, 2])
    with pytest.raises(ValueError, match="reads class 1"):
        fn(x, paddle.zeros([1, 2, 2], dtype="int64"))


@pytest.mark.parametrize("expr, message", [
    ("AllClasses(Mean(p[c, i], i))", "leaves the class index c free"),
    ("Mean(p[c, -1] + p[c, i], i)", "fields are indexed [c, i]"),
])
def test_misused_class_scope_is_a_spec_error(tmp_path, expr, message):
    with pytest.raises(SpecError, match=message.replace("[", r"\[").replace("]", r"\]")):
        compile_spec(tmp_path, "bad", expr)
