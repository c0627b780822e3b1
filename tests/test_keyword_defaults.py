"""A spec may change a common keyword's default (nnU-Net's Dice leaves out the background): the
generated signature, the Layer, the docstring and the oracle's options all follow."""
import importlib.util
import inspect

import numpy as np
import pytest

from spec_factory import write_spec
from symloss.compiler.backend.emit import render_loss
from symloss.compiler.frontend.errors import SpecError
from symloss.compiler.frontend.loader import load_registry
from symloss.compiler.proof.oracle import Options, Oracle

paddle = pytest.importorskip("paddle")


def with_defaults(tmp_path, text):
    return write_spec(tmp_path, edit=("    notes=", f"    keyword_defaults={text},\n    notes="))


def compile_module(tmp_path, path):
    registry = load_registry([path])
    out = tmp_path / "gen_my_dice.py"
    out.write_text(render_loss(registry["my_dice"], registry, standalone=True))
    module_spec = importlib.util.spec_from_file_location("gen_my_dice", out)
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return registry, module


def test_changed_defaults_reach_the_signature_the_layer_the_docs_and_the_oracle(tmp_path):
    path = with_defaults(tmp_path, '{"include_background": False, "batch": True, "activation": "sigmoid"}')
    registry, module = compile_module(tmp_path, path)
    for fn in (module.my_dice_loss, module.MyDiceLoss.__init__):
        params = inspect.signature(fn).parameters
        assert params["include_background"].default is False and params["batch"].default is True
        assert params["activation"].default == "sigmoid" and params["reduction"].default == "mean"
    assert "Default False for this loss." in module.my_dice_loss.__doc__
    assert module.MyDiceLoss().include_background is False

    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(2, 3, 4, 5)), rng.integers(0, 3, size=(2, 4, 5))
    oracle = Oracle(registry["my_dice"], registry)
    value, grad = oracle(x, y)
    assert value == pytest.approx(oracle(x, y, options=Options(include_background=False, batch=True,
                                                               activation="sigmoid"))[0], rel=1e-15)
    assert value != pytest.approx(oracle(x, y, options=Options())[0], rel=1e-6)
    xt = paddle.to_tensor(x, stop_gradient=False)
    out = module.my_dice_loss(xt, paddle.to_tensor(y))
    out.backward()
    np.testing.assert_allclose(float(out), value, rtol=1e-10)
    np.testing.assert_allclose(xt.grad.numpy(), grad, rtol=1e-8, atol=1e-12)


@pytest.mark.parametrize("text, message", [
    ('{"background": False}', "no common keyword"),
    ('{"include_background": 0}', "write True or False"),
    ('{"reduction": "avg"}', "write 'none' or 'mean' or 'sum'"),
    ('{"ignore_index": 2.5}', "an int or None"),
])
def test_a_bad_default_is_a_spec_error(tmp_path, text, message):
    path = with_defaults(tmp_path, text)
    with pytest.raises(SpecError, match=message) as info:
        load_registry([path])
    assert info.value.path == str(path)
