"""A primitive varies per pixel, so the compiler never moves it out of a pixel sum: each formula below
(the plain boundary loss and its relatives) used to build and then fail at every call with a shape
error; now each compiles to code that runs and matches the spec's own 50-digit evaluation, values and
gradients, at C in {1, 2, 4}."""
import numpy as np
import pytest

from spec_compile import compare, function_of, load_spec, random_case
from spec_factory import write_formula

pytest.importorskip("paddle")

PER_PIXEL = {
    "boundary loss": "Mean((1 - 2 * g[c, i]) * DistanceField(g[c, i]) * p[c, i], i)",
    "distance times p": "Mean(DistanceField(g[c, i]) * p[c, i], i)",
    "squared distance": "Mean(DistanceField(g[c, i]) ** 2 * p[c, i], i)",
    "boundary weight": "Mean(BoundaryWeight(g[c, i]) * (1 - p[c, i]), i)",
    "indicator of a distance": "Mean(Indicator(DistanceField(g[c, i])) * p[c, i], i)",
    "clipped distance": "Mean(Min(DistanceField(g[c, i]), 1) * p[c, i], i)",
    "distance in a ratio": "Sum(DistanceField(g[c, i]) * p[c, i], i) / (Sum(p[c, i], i) + 1)",
    "distance-weighted cross-entropy": "Mean(-Sum(DistanceField(g[c, i]) * g[c, i] * log(p[c, i]), c), i)",
    "per-pixel class sum": "-Sum(BoundaryWeight(g[c, i]) * g[c, i] * log(p[c, i]), c)",
    "distance of the prediction": "Mean(DistanceField(p[c, i]) * g[c, i], i)",
}


@pytest.mark.parametrize("case", sorted(PER_PIXEL))
def test_a_primitive_stays_inside_its_pixel_sum(tmp_path, case):
    path = write_formula(tmp_path, PER_PIXEL[case])
    loss, registry = load_spec(path)
    function = function_of(loss, registry)
    rng = np.random.default_rng(sorted(PER_PIXEL).index(case))
    for classes in (1, 2, 4):
        for _ in range(2):
            assert compare(loss, registry, function, random_case(loss, rng, classes)) == ""
