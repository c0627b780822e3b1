"""Writes small spec files for tests: a valid base that each test bends in one place."""
import textwrap

BASE = '''\
"""A test spec."""
from symloss.compiler.dsl import Loss, Param, Property, Sum, c, g, i, p

smooth = Param("smooth", 1.0, domain=(0, None), doc="added to numerator and denominator")
tp = Sum(p[c, i] * g[c, i], i)

LOSS = Loss(
    name={name!r},
    title="My dice",
    family="region",
    paper="arXiv:1606.04797",
    summary={summary!r},
    params=[smooth],
    expr=1 - (2 * tp + smooth) / (Sum(p[c, i], i) + Sum(g[c, i], i) + smooth),
    claims=[Property.bounded(0, 1)],
    notes={notes!r},
)
'''


def write_spec(folder, filename="my_dice.py", name="my_dice", summary="Dice again.", notes="", edit=None):
    text = BASE.format(name=name, summary=summary, notes=notes)
    if edit:
        old, new = edit
        assert old in text, old
        text = text.replace(old, new)
    path = folder / filename
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def line_of(path, needle):
    for k, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if needle in line:
            return k
    raise AssertionError(needle)


FORMULA = '''\
"""A test spec: {title}."""
from symloss.compiler.dsl import *  # noqa: F401,F403
{definitions}
LOSS = Loss(
    name={name!r},
    title="Test",
    family="region",
    paper="arXiv:0000.00000",
    summary="A formula under test.",
    params={params},
    expr={expr},
    claims={claims},
)
'''


def write_formula(folder, expr, definitions="", params="[]", claims="[]", name="my_loss", filename=None,
                  title="a formula"):
    """A spec around one formula: `definitions` are module lines before the Loss (a Param, helper terms)."""
    text = FORMULA.format(title=title, definitions=textwrap.dedent(definitions).strip("\n") + "\n",
                          name=name, params=params, expr=expr, claims=claims)
    path = folder / (filename or f"{name}.py")
    path.write_text(text, encoding="utf-8")
    return path
