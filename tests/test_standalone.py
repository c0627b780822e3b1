"""`symloss build SPEC --out DIR`: a spec outside the repo becomes one standalone module.

The module inlines the runtime and must import only paddle, numpy, scipy (for distance maps, when it
is installed) and the standard library. It is run in a subprocess where sympy, jinja2, black, mpmath
and every symloss module are unimportable (a meta-path finder raises ImportError for them before
anything else is imported): a stand-in for a fresh environment that has only paddle. There it must
give, forward and backward, what the in-repo package gives for the same formula; and with scipy
blocked too, a distance-map loss computes its maps with Paddle ops and gives the same.

Three specs: Dice (plain algebra), the distance-transform Hausdorff loss (a DistanceField primitive:
scipy at run time) and log-cosh of a `ref("dice")` (a reference to a bundled spec, inlined).
"""
import ast
import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from spec_factory import write_spec

paddle = pytest.importorskip("paddle")

BLOCKED = ("sympy", "jinja2", "black", "mpmath", "symloss")
ALLOWED = {"paddle", "numpy", "scipy", "edt"}  # edt: optional (the `fast` extra), imported in a try block

HAUSDORFF = '''\
"""The distance-transform Hausdorff loss, as a spec outside the repo."""
from symloss.compiler.dsl import Loss, Mean, Param, c, g, i, p
from symloss.compiler.frontend.primitives import DistanceField

alpha = Param("alpha", 2.0, domain=(0, None), doc="exponent of the distance fields")

LOSS = Loss(
    name="my_hausdorff",
    title="My Hausdorff",
    family="boundary",
    paper="arXiv:1904.10030",
    summary="Mean of (p - g)^2 (d_p^alpha + d_g^alpha) over the pixels.",
    params=[alpha],
    expr=Mean((p[c, i] - g[c, i]) ** 2 * (DistanceField(p[c, i]) ** alpha + DistanceField(g[c, i]) ** alpha), i),
    claims=[],
)
'''

LOG_COSH = '''\
"""log(cosh(Dice loss)), written against the bundled dice spec."""
from symloss.compiler.dsl import Loss, Param, cosh, log, ref

smooth = Param("smooth", 1.0, domain=(0, None), doc="added to numerator and denominator")

LOSS = Loss(
    name="my_log_cosh",
    title="My log-cosh",
    family="region",
    paper="arXiv:2006.14822",
    summary="log(cosh(DL)) of each class's Dice loss DL.",
    params=[smooth],
    expr=log(cosh(ref("dice", smooth=smooth))),
    claims=[],
)
'''

# name in the built module -> (in-repo function, keywords used for both)
CASES = {
    "my_dice": ("dice_loss", {"smooth": 0.5}),
    "my_hausdorff": ("hausdorff_dt_loss", {"alpha": 1.5}),
    "my_log_cosh": ("log_cosh_dice_loss", {"include_background": False}),
}

# Runs in the subprocess: block the compiler's world, then load each module by its file path.
RUNNER_TEMPLATE = textwrap.dedent(
    """
    import importlib.abc, importlib.util, json, sys

    BLOCKED = {blocked!r}

    class Blocker(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in BLOCKED:
                raise ImportError(f"{{name}} is blocked: a standalone module must not need it")
            return None

    sys.meta_path.insert(0, Blocker())
    for top in BLOCKED:
        try:
            __import__(top)
        except ImportError:
            pass
        else:
            raise SystemExit(f"the blocker let {{top}} through")

    import numpy as np
    import paddle

    out_dir, data_file, cases = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
    data = np.load(data_file)
    results = {{}}
    for name, kw in cases.items():
        spec = importlib.util.spec_from_file_location(name, f"{{out_dir}}/{{name}}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        x = paddle.to_tensor(data["x"])
        x.stop_gradient = False
        y = paddle.to_tensor(data["y"])
        loss = getattr(module, name + "_loss")(x, y, **kw)
        loss.backward()
        layer = [v for k, v in vars(module).items() if isinstance(v, type) and issubclass(v, paddle.nn.Layer)
                 and v.__module__ == name]
        assert len(layer) == 1, layer
        results[name + "/loss"] = loss.numpy()
        results[name + "/grad"] = x.grad.numpy()
        results[name + "/layer"] = layer[0](**kw)(x, y).numpy()
    np.savez(f"{{out_dir}}/results.npz", **results)
    print(json.dumps(sorted({{m.split(".")[0] for m in sys.modules}})))
    """
)
RUNNER = RUNNER_TEMPLATE.format(blocked=BLOCKED)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """Write the three specs outside the repo and build them with the CLI, in-process."""
    from symloss.compiler.commands.cli import main

    folder = tmp_path_factory.mktemp("specs")
    specs = [write_spec(folder, edit=("claims=[Property.bounded(0, 1)],", "claims=[],"))]
    for name, text in (("my_hausdorff", HAUSDORFF), ("my_log_cosh", LOG_COSH)):
        specs.append(folder / f"{name}.py")
        specs[-1].write_text(text, encoding="utf-8")
    out = folder / "out"
    assert main(["build", *map(str, specs), "--out", str(out), "--quiet"]) == 0
    assert sorted(p.name for p in out.iterdir()) == sorted(f"{n}.py" for n in CASES)
    return out


def run_isolated(built, data, blocked, cases):
    """Run built modules in a subprocess with `blocked` unimportable: (results, modules loaded)."""
    proc = subprocess.run(
        [sys.executable, "-c", RUNNER_TEMPLATE.format(blocked=blocked), str(built), str(data),
         json.dumps({n: CASES[n][1] for n in cases})],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=str(built),
    )
    assert proc.returncode == 0, proc.stderr[-5000:]
    modules = json.loads(proc.stdout.strip().splitlines()[-1])
    return dict(np.load(built / "results.npz")), modules


@pytest.fixture(scope="module")
def data_file(tmp_path_factory):
    rng = np.random.default_rng(7)
    x = rng.normal(0.0, 2.0, size=(2, 3, 8, 8)).astype(np.float32)
    y = rng.integers(0, 3, size=(2, 8, 8))
    y[0, :2] = 255  # some ignored pixels
    data = tmp_path_factory.mktemp("data") / "inputs.npz"
    np.savez(data, x=x, y=y)
    return x, y, data


@pytest.fixture(scope="module")
def isolated(built, data_file):
    """Run every built module, forward and backward, with the compiler's dependencies blocked."""
    x, y, data = data_file
    results, modules = run_isolated(built, data, BLOCKED, sorted(CASES))
    return x, y, results, modules


def test_distance_map_loss_runs_without_scipy(built, data_file, isolated):
    """With scipy (and the optional edt) unimportable too, the Hausdorff module computes its distance
    maps with Paddle ops (exact, like SciPy's): the same loss and gradient as with SciPy."""
    *_, data = data_file
    _, _, with_scipy, _ = isolated
    results, modules = run_isolated(built, data, BLOCKED + ("scipy", "edt"), ["my_hausdorff"])
    assert "scipy" not in modules and "edt" not in modules
    eps = np.finfo(np.float32).eps
    for key in ("loss", "grad", "layer"):
        expected = with_scipy[f"my_hausdorff/{key}"]
        np.testing.assert_allclose(results[f"my_hausdorff/{key}"], expected, rtol=8 * eps,
                                   atol=8 * eps * np.abs(expected).max())
    assert np.abs(results["my_hausdorff/grad"]).max() > 0


def imported_modules(path):
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{path.name}: relative import"
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("name", sorted(CASES))
def test_built_module_imports_only_paddle_numpy_scipy_and_the_standard_library(built, name):
    names = imported_modules(built / f"{name}.py")
    outside = names - ALLOWED - set(sys.stdlib_module_names)
    assert not outside, outside
    assert "paddle" in names and not names & set(BLOCKED)


def test_only_the_distance_map_loss_needs_scipy(built):
    for name in CASES:
        text = (built / f"{name}.py").read_text(encoding="utf-8")
        module_level = {a.name for node in ast.parse(text).body if isinstance(node, ast.Import) for a in node.names}
        assert "scipy" not in module_level  # imported lazily, where a distance map is computed


def test_blocked_modules_were_never_loaded(isolated):
    *_, modules = isolated
    assert not set(modules) & set(BLOCKED), modules
    assert "scipy" in modules or "edt" in modules  # the Hausdorff loss ran its distance transform


@pytest.mark.parametrize("name", sorted(CASES))
def test_standalone_module_matches_the_in_repo_loss(isolated, name):
    import symloss.paddle as package

    x, y, results, _ = isolated
    function, kw = CASES[name]
    xt = paddle.to_tensor(x)
    xt.stop_gradient = False
    expected = getattr(package, function)(xt, paddle.to_tensor(y), **kw)
    expected.backward()
    loss, grad = results[f"{name}/loss"], results[f"{name}/grad"]
    assert np.isfinite(loss).all() and np.isfinite(grad).all()
    assert np.abs(grad).max() > 0
    # Same formula, same compiler, same float32 operations: equal up to float32 rounding.
    eps = np.finfo(np.float32).eps
    np.testing.assert_allclose(loss, expected.numpy(), rtol=8 * eps, atol=8 * eps)
    np.testing.assert_allclose(grad, xt.grad.numpy(), rtol=64 * eps, atol=8 * eps * np.abs(xt.grad.numpy()).max())
    np.testing.assert_array_equal(results[f"{name}/layer"], loss)
