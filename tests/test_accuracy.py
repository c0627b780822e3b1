"""float32 accuracy: the pooled oracle is the spec's literal formula, and every loss meets the targets.

The pooled oracle is checked against the pixel-by-pixel oracle (the spec unrolled and evaluated at
100 digits) on random inputs and on images whose pixels repeat; then every generated loss and its
literal translation are measured against it in float32 on the 64x64 corpus (`symloss accuracy
--quick`; the docs' corpus is the same at 256x256 and 512x512).
"""
import math

import numpy as np
import pytest
import sympy as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from registry_names import NAMES, REGISTRY
from symloss.compiler.backend.statistics import cancellation_free, share_statistics
from symloss.compiler.dsl import Sum, c, g, i, n, p
from symloss.compiler.frontend.expand import resolve, split_sum
from symloss.compiler.frontend.primitives import extract
from symloss.compiler.proof import accuracy as acc
from symloss.compiler.proof.oracle import Options, Oracle
from symloss.compiler.proof.pooled import PooledOracle
from test_oracle import cases

paddle = pytest.importorskip("paddle")
from symloss.benchmarks.accuracy import implementations  # noqa: E402
from symloss.paddle import FUNCTIONS  # noqa: E402


def assert_same(pooled, unrolled, groups=None):
    value, grad = unrolled
    exact = pooled
    assert math.isclose(exact.value, value, rel_tol=1e-12, abs_tol=1e-15), (exact.value, value)
    if groups is not None:
        grad = acc.group_means(grad, groups)
    scale = max(float(np.max(np.abs(grad))), 1e-300)
    np.testing.assert_allclose(exact.gradient, grad, rtol=1e-11, atol=1e-13 * scale)


# ---------------------------------------------------------------- the pooled oracle is the oracle

def refuses(name) -> bool:
    """A loss the pooled oracle cannot follow (a gradient through a neighbourhood operator) must say so,
    not answer: `symloss accuracy` measures it with the unrolled oracle instead."""
    if not PooledOracle.limitation(REGISTRY[name], REGISTRY):
        return False
    logit, label = acc.Row("random", 1.0, 2, 4, 1).inputs()
    with pytest.raises(ValueError, match="neighbourhood operator"):
        PooledOracle(REGISTRY[name], REGISTRY).evaluate(logit, label)
    return True


@pytest.mark.parametrize("name", NAMES)
def test_pooled_oracle_matches_the_unrolled_oracle(name):
    loss = REGISTRY[name]
    if refuses(name):
        return

    @settings(max_examples=max(1, settings.default.max_examples // 4))  # each example evaluates twice at 100 digits
    @given(cases(loss), st.sampled_from(["mean", "sum"]))
    def check(case, reduction):
        logit, label, options, params = case
        options = Options(options.activation, options.ignore_index, options.include_background, options.batch,
                          reduction)
        expected = Oracle(loss, REGISTRY)(logit, label, params, options)
        if not (np.isfinite(expected[0]) and np.all(np.isfinite(expected[1]))):
            return
        assert_same(PooledOracle(loss, REGISTRY).evaluate(logit, label, params, options), expected)

    check()


@pytest.mark.parametrize("name", NAMES)
def test_pooled_oracle_on_repeated_pixels(name):
    """Few kinds of pixel, many pixels each (ties in the Lovász sort included): pooling is exact, and a
    sort's gradient is the mean over each kind of the unrolled oracle's (any tie order gives that mean)."""
    if refuses(name):
        return
    rng = np.random.default_rng(7)
    for C in (1, 3):
        palette = rng.normal(0.0, 3.0, size=(3, C))
        pick = rng.integers(0, 3, size=(2, 3, 4))
        logit = np.ascontiguousarray(palette[pick].transpose(0, 3, 1, 2))
        label = (pick % max(C, 2)).astype(np.int64)  # labels follow the logits: few kinds
        label[0, 0, :2] = 255
        options = Options(batch=C == 3)
        pooled = PooledOracle(REGISTRY[name], REGISTRY).evaluate(logit, label, None, options)
        assert_same(pooled, Oracle(REGISTRY[name], REGISTRY)(logit, label, None, options), pooled.groups)


# ---------------------------------------------------------------- shared statistics never cancel

def test_statistics_split_only_into_additions():
    assert share_statistics(Sum(1 - g[c, i], i)) == Sum(1 - g[c, i], i)  # not n - Sum(g)
    assert share_statistics(Sum(p[c, i] * (1 - g[c, i]), i) + Sum(p[c, i] * g[c, i], i)).has(
        Sum(p[c, i] * (1 - g[c, i]), i))  # not Sum(p) - Sum(p g)
    assert not cancellation_free(split_sum(Sum(1 - g[c, i], i)))
    assert not cancellation_free(split_sum(Sum(p[c, i] * (1 - g[c, i]), i)))
    assert cancellation_free(split_sum(Sum(2 * p[c, i] + g[c, i], i)))
    assert cancellation_free(n + 2 * Sum(p[c, i], i))
    alpha = sp.Symbol("alpha", real=True)  # a coefficient of unknown sign may subtract
    assert not cancellation_free(split_sum(Sum(p[c, i] + alpha * g[c, i], i)))


@pytest.mark.parametrize("C, label", [(1, 1), (2, 0), (4, 0)])
def test_sensitivity_specificity_when_one_class_covers_every_pixel(C, label):
    """Issue 9, defect 1: NaN in float32 once an image has more than 256 pixels (n - sum(g) + 1e-5).
    The float32 result is compared with float64 (itself checked against the oracle by test_oracle)."""
    logit = np.random.default_rng(0).normal(0.0, 1.0, size=(2, C, 64, 64))
    labels = paddle.to_tensor(np.full((2, 64, 64), label, dtype=np.int64))
    results = []
    for dtype in ("float32", "float64"):
        x = paddle.to_tensor(logit.astype(dtype), stop_gradient=False)
        out = FUNCTIONS["sensitivity_specificity"](x, labels)
        out.backward()
        results.append((float(out), x.grad.numpy().astype(np.float64)))
    (value, grad), (exact, exact_grad) = results
    assert np.isfinite(value) and np.all(np.isfinite(grad))
    assert acc.relative_error(value, exact) < acc.VALUE_TARGET
    assert acc.normwise_error(grad, exact_grad) < acc.GRADIENT_TARGET


# ---------------------------------------------------------------- the targets

def test_the_test_corpus_covers_the_adversarial_rows():
    rows = acc.check_corpus()
    assert {r.scene for r in rows} == set(acc.SCENES)
    assert {r.scale for r in rows} == set(acc.SCALES)
    assert {r.classes for r in rows} == set(acc.CLASSES)
    assert all(r.size * r.size > 256 for r in rows)  # past the size where n - sum(g) + 1e-5 rounds to 0
    full = next(r for r in rows if r.scene == "full" and r.classes == 1)
    assert np.all(full.inputs()[1] == 1)
    ignored = next(r for r in rows if r.scene == "ignored")
    assert np.any(ignored.inputs()[1] == 255)
    soft = next(r for r in rows if r.scene == "soft")
    assert soft.inputs()[1].dtype == np.float32


@pytest.mark.parametrize("name", NAMES)
def test_float32_targets(name):
    """No NaN or Inf where the loss is finite; value <= 1e-5 (ill-conditioned: no worse than the literal);
    gradient <= 1e-4; never worse than 2 x the literal translation on any row."""
    _, why = acc.oracle_for(REGISTRY[name], REGISTRY)
    rows = acc.unrolled_corpus(quick=True) if why else acc.check_corpus()
    measured = acc.measure(REGISTRY[name], REGISTRY, implementations(REGISTRY, name), rows)
    assert [v for m in measured for v in acc.violations(m)] == []


def test_every_loss_is_measured_by_one_of_the_oracles():
    """No loss is left out: the pooled oracle evaluates it, or it says why and the unrolled one does."""
    unrolled = {name for name in NAMES if acc.oracle_for(REGISTRY[name], REGISTRY)[1]}
    assert unrolled == {name for name in NAMES if any(
        prim.differentiable for _, prim in extract(resolve(REGISTRY[name].expr, REGISTRY))[1])}
    assert len(unrolled) < len(NAMES) // 4  # the exception, not the rule


def test_the_targets_see_a_cancelling_rewrite():
    """The measurement catches what the statistics pass used to do: n - sum(g) for sum(1 - g)."""
    name = "sensitivity_specificity"
    loss = REGISTRY[name]
    found = implementations(REGISTRY, name)

    def cancelling(logit, label, options):
        x = paddle.to_tensor(logit, stop_gradient=False)
        p = paddle.nn.functional.sigmoid(x) if logit.shape[1] == 1 else paddle.nn.functional.softmax(x, axis=1)
        gt = paddle.to_tensor(one_hot(label, logit.shape[1]))
        positives = paddle.sum(gt, axis=[2, 3])
        negatives = -positives + 1e-5 + float(label[0].size)  # the old statistic
        err = (gt - p) ** 2
        out = paddle.mean(0.05 * paddle.sum(err * gt, axis=[2, 3]) / (positives + 1e-5)
                          + 0.95 * paddle.sum(err * (1 - gt), axis=[2, 3]) / negatives)
        out.backward()
        return float(out), x.grad.numpy()

    row = acc.Row("full", 5.0, 1, 64, 2)
    m = acc.measure(loss, REGISTRY, {"generated": cancelling, "literal": found["literal"]}, [row])[0]
    assert acc.violations(m)


def one_hot(label, C):
    if C == 1:
        return (label == 1).astype(np.float32)[:, None]
    return (label[:, None] == np.arange(C)[None, :, None, None]).astype(np.float32)


def test_accuracy_in_worker_processes_measures_what_one_process_does():
    """`symloss accuracy --jobs 2`: the same summaries, in the order asked, as one process."""
    import argparse

    from symloss.compiler.commands import accuracy as command

    parser = argparse.ArgumentParser()
    command.add_arguments(parser)
    names = ["tversky", "bce"]
    results = []
    for jobs in ("1", "2"):
        args = parser.parse_args([*names, "--size", "16", "--jobs", jobs])
        results.append([(s.name, s.worst["generated"].value, s.worst["generated"].gradient)
                        for s in command._measured(names, args)])
    assert [r[0] for r in results[1]] == names
    assert results[0] == results[1]
