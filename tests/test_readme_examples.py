"""The README's "Writing a new loss" examples are the language as it is: each snippet, with its names
declared, states the bundled spec's formula (or, for the added primitive, compiles end to end: see
tests/test_spec_primitive.py, which builds its spec from the README's block)."""
import re
from pathlib import Path

import sympy as sp

from registry_names import REGISTRY
from symloss.compiler import dsl
from symloss.compiler.frontend.expand import resolve
from symloss.compiler.frontend.functions import literal
from symloss.compiler.proof.check import decide

README = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")


def readme_block(heading: str) -> str:
    """The first ```python block after a README heading."""
    section = README[README.index(heading):]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def run(block: str, **names) -> dict:
    namespace = {k: getattr(dsl, k) for k in dir(dsl) if not k.startswith("_")} | names
    exec(block, namespace)  # noqa: S102 - the README's own example
    return namespace


def bundled(name: str):
    loss = REGISTRY[name]
    return loss, loss.param_map


def test_class_selection_example_is_the_asymmetric_focal_loss():
    loss, params = bundled("asym_focal")
    found = run(readme_block("### Class selection and class scope"), **params)
    assert sp.simplify(found["asym_focal"] - loss.expr) == 0
    assert found["dice_ce"].has(dsl.AllClasses)


def test_neighbourhood_example_is_the_cldice_loss():
    loss, params = bundled("cldice")
    found = run(readme_block("### Neighbourhood operators and order statistics"), **params)
    assert decide(literal(found["cldice"] - loss.expr))  # the spec multiplies the ratios out


def test_order_statistics_example_is_the_topk_loss():
    loss, params = bundled("topk_ce")
    section = README[README.index("Order statistics select pixels"):]
    found = run(re.search(r"```python\n(.*?)```", section, re.S).group(1), **params)
    assert resolve(found["topk_ce"], REGISTRY) == resolve(loss.expr, REGISTRY)
