"""Generated documentation: the catalog lists every loss, pages carry formula, claims and curves."""
import pytest

from registry_names import NAMES, REGISTRY
from symloss.compiler.proof.check import Checker
from symloss.compiler.commands.docs import CATALOG_END, CATALOG_START, catalog_table, curves, loss_page, replace_catalog


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
