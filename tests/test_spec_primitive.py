"""A primitive defined in a spec file works end to end: checked, compiled into the module (standalone or
bundled), and its values and gradients match the oracle, which differentiates the primitive's own evaluation."""
import importlib.util
import re
from pathlib import Path

import numpy as np
import pytest

from symloss.compiler.backend.emit import render_loss
from symloss.compiler.frontend.errors import SpecError
from symloss.compiler.frontend.loader import load_registry
from symloss.compiler.proof.check import Checker
from symloss.compiler.proof.oracle import Options, Oracle

paddle = pytest.importorskip("paddle")

README = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
# The README's worked example of a primitive, made a spec file.
EXAMPLE = re.search(r"```python\n(.*?)```", README[README.index("### Adding a primitive"):], re.S).group(1)
SPEC = f'''"""Spread of the prediction inside its image: a loss with a primitive of its own."""
import numpy as np

from symloss.compiler.dsl import Loss, Mean, NeighbourhoodPrimitive, Property, c, g, i, p


{EXAMPLE}

LOSS = Loss(
    name="image_spread", title="Image spread", family="region", paper="arXiv:0000.00000",
    summary="Mean squared distance of the prediction from its image mean, inside the target.",
    expr=spread,
    claims=[Property.nonnegative()],
)
'''


@pytest.fixture(scope="module")
def compiled(tmp_path_factory):
    folder = tmp_path_factory.mktemp("spec_primitive")
    path = folder / "image_spread.py"
    path.write_text(SPEC)
    registry = load_registry([path])
    out = folder / "generated_image_spread.py"
    out.write_text(render_loss(registry["image_spread"], registry, standalone=True))
    module_spec = importlib.util.spec_from_file_location("generated_image_spread", out)
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return registry, module


def test_its_claims_are_checked(compiled):
    registry, _ = compiled
    assert all(outcome.ok for outcome in Checker(registry).check(registry["image_spread"]))


@pytest.mark.parametrize("batch", [False, True])
@pytest.mark.parametrize("include_background", [True, False])
def test_values_and_gradients_match_the_oracle(compiled, batch, include_background):
    registry, module = compiled
    oracle = Oracle(registry["image_spread"], registry)
    rng = np.random.default_rng(int(batch) + 2 * int(include_background))
    x = rng.normal(0, 2, size=(2, 3, 3, 4))
    y = rng.integers(0, 3, size=(2, 3, 4))
    y[0, 0, :2] = 255
    options = Options(include_background=include_background, batch=batch, reduction="none")
    xt = paddle.to_tensor(x, stop_gradient=False)
    out = module.image_spread_loss(xt, paddle.to_tensor(y), include_background=include_background, batch=batch,
                                   reduction="none")
    cotangent = rng.uniform(0.5, 2.0, size=out.shape)
    (out * paddle.to_tensor(cotangent)).sum().backward()
    value, grad = oracle(x, y, {}, options, cotangent=cotangent)
    np.testing.assert_allclose(out.numpy(), value, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(xt.grad.numpy(), grad, rtol=1e-9, atol=1e-12)


def test_it_runs_in_a_static_graph(compiled):
    _, module = compiled
    rng = np.random.default_rng(5)
    x = paddle.to_tensor(rng.normal(size=(2, 3, 4, 4)))
    y = paddle.to_tensor(rng.integers(0, 3, size=(2, 4, 4)))
    eager = module.ImageSpreadLoss()(x, y)
    static = paddle.jit.to_static(module.ImageSpreadLoss(), full_graph=True)(x, y)
    np.testing.assert_allclose(static.numpy(), eager.numpy(), rtol=1e-10)


@pytest.mark.parametrize("cut, message", [
    ("    @staticmethod\n    def paddle(ctx, t):", "has no Paddle implementation"),
    ("    @staticmethod\n    def image(values, valid=None):", "has no oracle evaluation"),
])
def test_an_incomplete_primitive_is_refused_at_its_class(tmp_path, cut, message):
    renamed = cut.replace("def paddle(", "def paddle_later(").replace("def image(", "def image_later(")
    path = tmp_path / "image_spread.py"
    path.write_text(SPEC.replace(cut, renamed))
    with pytest.raises(SpecError, match=message) as info:
        load_registry([path])
    assert info.value.line == SPEC.splitlines().index("class ImageMean(NeighbourhoodPrimitive):") + 1
