"""compile_spec: a spec checked and compiled from Python, in memory, with nothing written."""
import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from symloss.compiler import compile_spec
from symloss.compiler.dsl import Loss, Param, Property, Sum, c, g, i, p
from symloss.compiler.frontend.errors import SpecError
from symloss.compiler.frontend.loader import bundled_dir

from spec_factory import write_spec

paddle = pytest.importorskip("paddle")


def inputs(seed=0, shape=(2, 3, 6, 5)):
    rng = np.random.default_rng(seed)
    x = paddle.to_tensor(rng.normal(0, 2, size=shape))
    y = rng.integers(0, shape[1], size=(shape[0],) + shape[2:])
    y[0, 0, :2] = 255
    return x, paddle.to_tensor(y)


def test_a_spec_file_compiles_to_a_function_and_layer_equal_to_the_bundled_loss(tmp_path):
    my = compile_spec(write_spec(tmp_path))  # the test spec is Dice with smooth=1
    from symloss.paddle import dice_loss

    x, y = inputs()
    x.stop_gradient = False
    expected = dice_loss(x, y, smooth=0.5, include_background=False)
    got = my(x, y, smooth=0.5, include_background=False)
    np.testing.assert_allclose(got.numpy(), expected.numpy(), rtol=1e-12)
    np.testing.assert_allclose(my.Layer(smooth=0.5, include_background=False)(x, y).numpy(), got.numpy(), rtol=0)
    (grad,) = paddle.grad(got, x)
    (expected_grad,) = paddle.grad(expected, x)
    np.testing.assert_allclose(grad.numpy(), expected_grad.numpy(), rtol=1e-10, atol=1e-14)
    assert my.name == "my_dice" and my.function.__name__ == "my_dice_loss" and my.Layer.__name__ == "MyDiceLoss"
    assert [o.ok for o in my.outcomes] == [True] and "my_dice" in my.proof_table()
    assert not any(tmp_path.glob("*loss*.py")) and sorted(q.name for q in tmp_path.iterdir()) == ["my_dice.py"]


def test_the_source_is_the_standalone_module_that_build_writes(tmp_path):
    from symloss.compiler.commands.cli import main

    spec = write_spec(tmp_path)
    assert main(["build", str(spec), "--out", str(tmp_path / "out"), "--quiet"]) == 0
    assert compile_spec(spec).source == (tmp_path / "out" / "my_dice.py").read_text(encoding="utf-8")


def test_a_loss_object_built_in_the_session_compiles():
    smooth = Param("smooth", 1.0, domain=(0, None), doc="added to numerator and denominator")
    tp = Sum(p[c, i] * g[c, i], i)
    loss = Loss(name="session_jaccard", title="Session Jaccard", family="region", paper="arXiv:0000.00000",
                summary="Jaccard, written in a notebook.", params=[smooth],
                expr=1 - (tp + smooth) / (Sum(p[c, i], i) + Sum(g[c, i], i) - tp + smooth),
                claims=[Property.bounded(0, 1)])
    my = compile_spec(loss)
    from symloss.paddle import jaccard_loss

    x, y = inputs(1)
    np.testing.assert_allclose(my(x, y, smooth=0.25).numpy(), jaccard_loss(x, y, smooth=0.25).numpy(), rtol=1e-12)


def test_the_compiled_layer_runs_under_to_static():
    my = compile_spec(bundled_dir() / "tversky.py")
    x, y = inputs(2)
    eager = my.Layer(alpha=0.2)(x, y)
    static = paddle.jit.to_static(my.Layer(alpha=0.2), full_graph=True)(x, y)
    np.testing.assert_allclose(static.numpy(), eager.numpy(), rtol=1e-10)


def test_a_failed_claim_raises_spec_error(tmp_path):
    spec = write_spec(tmp_path, edit=("claims=[Property.bounded(0, 1)],", "claims=[Property.bounded(0, 0.5)],"))
    with pytest.raises(SpecError, match=r"1 of 1 claims failed") as err:
        compile_spec(spec)
    assert err.value.path == str(spec) and "0 <= the loss <= 0.5" in str(err.value)
    assert compile_spec(spec, check=False).outcomes == []  # unchecked, it still compiles


@pytest.mark.parametrize("make, message", [
    (lambda tmp: write_spec(tmp, edit=("+ smooth)", "+ smoth)")), r"my_dice.py:\d+: NameError: name 'smoth'"),
    (lambda tmp: tmp / "absent.py", "no such spec file"),
    (lambda tmp: tmp, "not a folder"),
    (lambda tmp: 42, "expected a spec file path or a Loss"),
])
def test_a_bad_spec_raises_spec_error(tmp_path, make, message):
    with pytest.raises(SpecError, match=message):
        compile_spec(make(tmp_path))


def test_a_loss_object_may_not_take_a_registered_name():
    loss = Loss(name="dice", title="Dice", family="region", paper="arXiv:0000.00000", summary="Not Dice.",
                expr=1 - Sum(p[c, i], i) / (1 + Sum(p[c, i], i)))
    with pytest.raises(SpecError, match="'dice' is already registered"):
        compile_spec(loss)


def test_importing_the_compiler_package_loads_nothing_heavy():
    code = ("import sys, symloss.compiler; "
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'sympy', 'paddle', 'jinja2', 'mpmath', 'numpy'}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_compile_spec_works_without_the_formatter(tmp_path):
    """black is a build extra: compile_spec in an environment without it gives a working loss."""
    spec = write_spec(tmp_path)
    code = textwrap.dedent(f"""
        import importlib.abc, json, sys

        class Blocker(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] == "black":
                    raise ImportError("black is blocked")

        sys.meta_path.insert(0, Blocker())
        import numpy as np, paddle
        from symloss.compiler import compile_spec

        my = compile_spec({str(spec)!r}, check=False)
        x = paddle.to_tensor(np.linspace(-2, 2, 2 * 3 * 4).reshape(2, 3, 4))
        y = paddle.to_tensor(np.array([[0, 1, 2, 1], [2, 2, 0, 1]]))
        print(json.dumps([float(my(x, y)), "black" in sys.modules and sys.modules["black"] is not None]))
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    value, black_loaded = json.loads(proc.stdout.strip().splitlines()[-1])
    from symloss.paddle import dice_loss

    x = paddle.to_tensor(np.linspace(-2, 2, 2 * 3 * 4).reshape(2, 3, 4))
    y = paddle.to_tensor(np.array([[0, 1, 2, 1], [2, 2, 0, 1]]))
    assert not black_loaded
    assert value == pytest.approx(float(dice_loss(x, y)), rel=1e-12)
