"""Generated documentation: the catalog lists every loss, pages carry formula, claims and curves (or,
for a distance-map loss, a 2D example)."""
import numpy as np
import pytest

from registry_names import NAMES, REGISTRY
from symloss.compiler.proof.check import Checker
from symloss.compiler.commands.docs import (CATALOG_END, CATALOG_START, catalog_table, curves, example,
                                           example_inputs, example_table, image_scope, loss_page, replace_catalog)


@pytest.fixture(scope="module")
def outcomes():
    checker = Checker(REGISTRY)
    return {name: checker.check(REGISTRY[name]) for name in NAMES}


def test_catalog_has_a_row_per_loss_with_errata(outcomes):
    table = catalog_table(REGISTRY, outcomes)
    rows = table.splitlines()[2:]
    assert [r.split("`")[1] for r in rows] == NAMES
    tversky = next(r for r in rows if r.startswith("| [`tversky`]"))
    assert "dice(smooth=2\\*s) (proved)" in tversky and "Dice(2s)" in tversky.split(" | ")[-1]


def test_replace_catalog_keeps_the_rest_of_the_readme():
    text = f"intro\n{CATALOG_START}\nold\n{CATALOG_END}\noutro\n"
    assert replace_catalog(text, "new") == f"intro\n{CATALOG_START}\nnew\n{CATALOG_END}\noutro\n"
    with pytest.raises(ValueError):
        replace_catalog("no markers", "new")


def test_page_shows_formula_parameters_claims_and_curves(outcomes):
    data = curves(REGISTRY["dice"], REGISTRY)
    page = loss_page(REGISTRY["dice"], REGISTRY, outcomes["dice"], data)
    for piece in ("$$", "| `smooth` | 1.0 | [0, inf) |", "(checked numerically)", "![dice](dice.png)",
                  "| loss, positive |", "from symloss.paddle import DiceLoss, dice_loss"):
        assert piece in page, piece
    values, slopes = data[1.0]
    assert values[0] > values[-1] and all(s < 0 for s in slopes)  # Dice falls as a positive pixel's p rises


IMAGE_SCOPE = [n for n in NAMES if image_scope(REGISTRY[n], REGISTRY)]


def test_the_image_scope_losses_are_those_reading_whole_images():
    """Distance maps and neighbourhood operators: one pixel alone cannot show these losses."""
    assert IMAGE_SCOPE == ["boundary", "cldice", "dice_cldice", "distance_map_ce", "hausdorff_dt", "hausdorff_er",
                           "log_hausdorff_dt", "shape_aware"]


@pytest.mark.parametrize("name", IMAGE_SCOPE)
def test_distance_map_page_shows_a_2d_example_that_the_generated_loss_agrees_with(name, outcomes):
    """The example is computed by the oracle (the spec's formula at 100 digits); the generated loss,
    an independent path, must give the same loss and gradient on the same image."""
    paddle = pytest.importorskip("paddle")
    from symloss.paddle import FUNCTIONS

    data = example(REGISTRY[name], REGISTRY)
    page = loss_page(REGISTRY[name], REGISTRY, outcomes[name], data)
    assert "## A 2D example" in page and f"![{name}]({name}.png)" in page and "| loss, positive |" not in page
    assert np.abs(data.grad).max() > 0  # not the all-zero curves of one pixel
    if data.loss_map is not None:  # a loss that is a sum of pixel terms shows them
        assert np.abs(data.loss_map).max() > 0
    target, prob = example_inputs()
    assert target.any() and (target != (prob > 0.5)).any()  # the prediction is off the target
    logit = paddle.to_tensor(np.log(prob / (1 - prob))[None, None], stop_gradient=False)
    loss = FUNCTIONS[name](logit, paddle.to_tensor(target[None]))
    loss.backward()
    assert float(loss) == pytest.approx(data.loss, rel=1e-9)
    per_pixel = FUNCTIONS[name](logit, paddle.to_tensor(target[None]), reduction="none").numpy().reshape(-1)
    if data.loss_map is None:  # no pixel terms (e.g. a ratio of sums): the gradient of the one entry
        scale = 1
    elif data.per_pixel:  # the map is the loss at each pixel
        np.testing.assert_allclose(per_pixel, data.loss_map.reshape(-1), rtol=1e-9, atol=1e-12)
        scale = data.loss_map.size  # the gradient shown is that of the map's sum, the mean's is 1/size of it
    else:  # the map's terms add up to the loss
        assert data.loss_map.sum() == pytest.approx(data.loss, rel=1e-12)
        scale = 1
    np.testing.assert_allclose(logit.grad.numpy()[0, 0] * scale, data.grad, rtol=1e-8, atol=1e-12)


def test_example_table_is_the_middle_row():
    data = example(REGISTRY["hausdorff_dt"], REGISTRY)
    lines = example_table(data).splitlines()
    row = data.target.shape[0] // 2
    assert lines[2] == "| target g | " + " | ".join(str(int(v)) for v in data.target[row]) + " |"
    assert lines[4].startswith("| term of the loss | ") and len(lines[4].split("|")) == data.target.shape[1] + 3
