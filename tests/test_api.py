"""The generated API: same keywords for every loss, registries, shapes, and clear errors."""
import inspect

import numpy as np
import pytest

from registry_names import NAMES, REGISTRY

paddle = pytest.importorskip("paddle")
import symloss.paddle as sp_paddle  # noqa: E402
from symloss.paddle import FUNCTIONS, LOSSES  # noqa: E402

from symloss.compiler.dsl import COMMON_KEYWORDS  # noqa: E402

COMMON = list(COMMON_KEYWORDS)


def inputs(n=2, c=3, spatial=(4, 5), seed=0):
    rng = np.random.default_rng(seed)
    x = paddle.to_tensor(rng.normal(size=(n, c) + spatial).astype("float32"))
    y = paddle.to_tensor(rng.integers(0, max(c, 2), size=(n,) + spatial))
    return x, y


def test_registries_cover_every_spec():
    assert sorted(LOSSES) == sorted(FUNCTIONS) == NAMES
    for name in NAMES:
        assert FUNCTIONS[name] is getattr(sp_paddle, f"{name}_loss")
        assert issubclass(LOSSES[name], paddle.nn.Layer)


@pytest.mark.parametrize("name", NAMES)
def test_signature_is_the_spec_params_then_the_common_keywords(name):
    from symloss.paddle import DISTANCE_MAPS

    params = [p.name for p in REGISTRY[name].params]
    maps = ["dist_map"] if name in DISTANCE_MAPS else []
    sig = inspect.signature(FUNCTIONS[name])
    assert list(sig.parameters) == ["logit", "label"] + params + maps + COMMON
    defaults = {k: v.default for k, v in sig.parameters.items()}
    common = {"activation": "auto", "ignore_index": 255, "include_background": True, "batch": False,
              "sync": False, "reduction": "mean"} | REGISTRY[name].keyword_defaults
    for key, value in common.items():
        assert defaults[key] is value if isinstance(value, bool) else defaults[key] == value, key
    for p in REGISTRY[name].params:
        assert defaults[p.name] == (float(p.default) if p.kind == "scalar" else p.default)
    layer_sig = inspect.signature(LOSSES[name].__init__)
    assert list(layer_sig.parameters)[1:] == params + COMMON


@pytest.mark.parametrize("name", NAMES)
def test_layer_equals_function(name):
    x, y = inputs()
    kw = {"batch": True, "include_background": False}
    assert float(LOSSES[name](**kw)(x, y)) == float(FUNCTIONS[name](x, y, **kw))


@pytest.mark.parametrize("name", NAMES)
def test_label_with_a_channel_axis_equals_label_without(name):
    x, y = inputs()
    assert float(FUNCTIONS[name](x, y.unsqueeze(1))) == float(FUNCTIONS[name](x, y))


@pytest.mark.parametrize("name", NAMES)
def test_one_hot_float_target_equals_class_indices(name):
    x, y = inputs()
    onehot = paddle.nn.functional.one_hot(y, 3).transpose([0, 3, 1, 2]).astype("float32")
    np.testing.assert_allclose(float(FUNCTIONS[name](x, onehot)), float(FUNCTIONS[name](x, y, ignore_index=None)),
                               rtol=1e-6)


@pytest.mark.parametrize("name", NAMES)
def test_none_reduction_keeps_the_free_axes(name):
    from symloss.compiler.frontend.expand import granularity

    per_class, per_pixel = granularity(REGISTRY[name], REGISTRY)
    x, y = inputs(n=2, c=3, spatial=(4, 5))
    for batch in (False, True):
        out = FUNCTIONS[name](x, y, reduction="none", batch=batch, include_background=False)
        expected = ([2] if per_pixel or not batch else []) + ([2] if per_class else []) + ([4, 5] if per_pixel else [])
        assert list(out.shape) == expected


def test_include_background_leaves_class_zero_out():
    x, y = inputs()
    full = FUNCTIONS["dice"](x, y, reduction="none")
    fg = FUNCTIONS["dice"](x, y, reduction="none", include_background=False)
    np.testing.assert_allclose(fg.numpy(), full.numpy()[:, 1:], rtol=1e-6)


def test_ignored_pixels_do_not_count():
    x, y = inputs(n=1, c=3, spatial=(6,))
    y_ignored = paddle.to_tensor(np.array([[0, 1, 2, 255, 255, 1]]))
    kept = [0, 1, 2, 5]
    a = FUNCTIONS["tversky"](x, y_ignored)
    b = FUNCTIONS["tversky"](paddle.to_tensor(x.numpy()[:, :, kept]), paddle.to_tensor(np.array([[0, 1, 2, 1]])))
    np.testing.assert_allclose(float(a), float(b), rtol=1e-6)


BAD = [
    (lambda x, y: (x.numpy(), y), {}, "logit got ndarray"),
    (lambda x, y: (x[0, 0], y), {}, "logit got shape"),
    (lambda x, y: (x.astype("int64"), y), {}, "logit got dtype int64"),
    (lambda x, y: (x, y[:, :3]), {}, "label got shape"),
    (lambda x, y: (x, y + 3), {}, "label got value"),
    (lambda x, y: (x, y.astype("float32")), {}, "label got float shape"),
    (lambda x, y: (x, y), {"activation": "relu"}, "activation got 'relu'"),
    (lambda x, y: (x, y), {"reduction": "avg"}, "reduction got 'avg'"),
    (lambda x, y: (x, y), {"batch": 1}, "batch got 1"),
    (lambda x, y: (x, y), {"ignore_index": 2.5}, "ignore_index got 2.5"),
    (lambda x, y: (x[:, :1], y.clip(0, 1)), {"activation": "softmax"}, "activation got 'softmax' with C == 1"),
]


@pytest.mark.parametrize("make, kw, message", BAD, ids=[b[2] for b in BAD])
def test_bad_input_names_the_argument(make, kw, message):
    x, y = inputs()
    with pytest.raises(ValueError, match=message):
        FUNCTIONS["dice"](*make(x, y), **kw)


@pytest.mark.parametrize("name", [n for n in NAMES if REGISTRY[n].scalars])
def test_parameter_outside_its_domain_is_rejected(name):
    prm = REGISTRY[name].scalars[0]
    bad = float(prm.domain.inf) - 1.0 if prm.domain.inf.is_finite else float(prm.domain.sup) + 1.0
    x, y = inputs()
    with pytest.raises(ValueError, match=f"{prm.name} got"):
        FUNCTIONS[name](x, y, **{prm.name: bad})
    with pytest.raises(ValueError, match=f"{prm.name} got"):
        LOSSES[name](**{prm.name: bad})


def test_choice_and_class_weights_are_checked():
    x, y = inputs()
    with pytest.raises(ValueError, match="classes got 'some'"):
        FUNCTIONS["lovasz_softmax"](x, y, classes="some")
    with pytest.raises(ValueError, match="weight got 2 weights"):
        FUNCTIONS["cross_entropy"](x, y, weight=[1.0, 2.0])
    with pytest.raises(ValueError, match="non-negative"):
        LOSSES["cross_entropy"](weight=[1.0, -2.0, 1.0])
