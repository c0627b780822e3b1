"""`symloss accuracy`: float32 error of every loss against the 100-digit oracle, written to docs/accuracy.md.

The implementations measured are the generated loss, its literal translation (the spec emitted with
no rewrite, no shared statistic), and Paddle's own kernel where one computes the same loss.
"""
from __future__ import annotations

import math
import time
from pathlib import Path

from ..frontend.errors import SpecError
from ..proof import accuracy as acc
from ..proof.accuracy import CLASSES, SCENE_TEXT

PREAMBLE = """# float32 accuracy

Every loss, evaluated in float32 on float32 inputs, against its literal formula evaluated at 100
digits on the same inputs. Written by `{command}` (the corpus below); the tests run the
same measurement on 64x64 images (`tests/test_accuracy.py`).
"""

METHOD = """## Method

- **Implementations.** *generated*: `symloss.paddle.<name>_loss`; *literal*: the same spec emitted
  with no rewrite and no shared statistic (`render_loss(..., optimize=False)`), on the same runtime;
  *Paddle*: Paddle's own kernel where one computes the same loss (`F.binary_cross_entropy_with_logits`,
  `F.cross_entropy`, `F.sigmoid_focal_loss`; only on rows whose options it takes). Each runs in float32,
  forward and backward, with default parameters and `reduction="mean"`.
- **Oracle.** The spec's literal formula at 100 digits (mpmath) on the same float32 inputs, with its
  exact gradient (`compiler/proof/pooled.py`). Each array of the formula is held as codes into a table
  of its distinct values, and each operation is evaluated once per distinct combination of its
  arguments; a sum over pixels weighs each distinct value by the number of pixels holding it (exact
  integers). So the result is exact to 100 digits however large the image, and the cost follows the
  number of distinct values, which the corpus keeps small. It agrees with the pixel-by-pixel oracle
  (`compiler/proof/oracle.py`) to float64 rounding on every loss it evaluates (`tests/test_accuracy.py`).
  Where a loss's gradient flows through a neighbourhood operator (the soft skeleton of clDice, the
  soft erosions of Hausdorff-ER), pooling by kinds cannot follow each pixel's own adjoint on the
  image grid; those losses are measured with the pixel-by-pixel oracle itself, on 17x17 images (289
  pixels, past the 256 where a count lost to a difference in float32) and a few rows at 64x64 and
  256x256 (its cost grows with the pixels), marked *unrolled* below.
- **Errors.** Value: |v - v*| / |v*|. Gradient (with respect to the logits): ||g - g*||_2 / ||g*||_2.
  For the Lovász losses, which sort pixels, the gradient is compared after averaging it over each
  set of pixels with equal inputs in a unit: a sort may leave tied pixels in any order, each order
  gives its own valid subgradient, and only their mean is defined.
- **Targets.** No NaN or Inf where the oracle is finite; value error <= 1e-5; gradient error <= 1e-4;
  and on every row, generated <= 2 x max(literal, resolution), value and gradient.
- **Resolution of the comparison with the literal.** Generated and literal code run the same float32
  sums, whose rounding the loss amplifies; the literal's own error lands anywhere below its
  first-order bound u * Lambda (u = 2^-24, Lambda = sum over the formula's operations of
  |v dL/dv| / |L|, every operation rounded once; the oracle computes it exactly), by how its roundings
  happen to cancel. Errors below that bound (at least one ulp, 2^-23) are not told apart; the
  gradient's resolution is one ulp.
- **Exemptions, listed per loss below.** *Ill-conditioned value*: kappa u > 1e-5, kappa = sum_i
  |x_i dL/dx_i| / |L| from the exact gradient (the loss itself moves by more than 1e-5 when the
  logits move by one rounding); there only the comparison with the literal applies. *Below float32's
  range*: the exact gradient (or value) rounded to float32 already errs by more than the target (its
  entries underflow, e.g. a softmax 130 logits below the top); no float32 code can hold it. *Value
  the formula rounds beyond the target*: u Lambda > 1e-5 (above), e.g. a loss 1 - r at its floor, r
  within 1e-3 of 1, where rounding r alone costs u r / L (for the unrolled oracle's losses Lambda is
  that last subtraction's share, |1 - L| / |L|); there only the comparison with the literal applies. *Errors
  float32 cannot order*: a sort meets two kinds of pixel whose errors lie within 8 ulps (at saturated
  logits every error rounds to 0 or 1); float32 may order them either way, each order gives another
  valid gradient, so only the comparison with the literal (which shares the sort) applies to it. The
  same for a max or min over neighbours (soft erosion, soft skeleton): two neighbouring pixels whose
  activations differ exactly but lie within 8 ulps (a sigmoid at |x| = 30 rounds both to 1).
"""


DESIGN = """## What keeps the generated code accurate

- **Shared statistics only add.** A pixel sum is split into shared statistics only where every part
  enters with a non-negative coefficient: sum(1 - g) = n - sum(g) is 0 in float32 once one class
  covers every pixel (and then `n - sum(g) + 1e-5` rounds back to 0: sensitivity-specificity returned
  NaN), and sum(p (1 - g)) = sum(p) - sum(p g) loses digits where p g ~ p. Measured with the two-level
  sums below, that split made Tversky's worst value error 2.0e-6 against 5.6e-7 for the sums it
  replaced (both within the targets), at 1.2x (C = 4) to 1.8x (C = 1) the speed; the pass keeps the
  sums. Nor is a sum added up from its parts: sum(p) as sum(p g) + sum(p (1 - g)) carries both
  parts' rounding, which doubled log_cosh_dice's gradient error at C = 1 against the literal's; each
  sum of the fused step (sum(g p), sum((1 - g) p), sum(p), sum(g (1 - p)), ...) is summed directly.
- **Pixel sums pairwise, or in two levels.** Paddle's CPU sums accumulate in order, and on an image
  of repeated values their rounding errors add up instead of cancelling (6e-7 over 32768 entries,
  7.5e-6 over a 512x512 image). Eager on the CPU, pixel sums and the fused region sums run in NumPy,
  which sums a contiguous axis pairwise (error O(log P)); in a static graph or on a device they run
  over blocks of about sqrt(P) pixels, then over the blocks.
- **Long running sums in float64.** The Lovász extension's cumulative sums run over every pixel of
  a unit in sorted order (65k-262k terms); in float32 they cost soft targets 2e-5 of the value at
  256x256, so they accumulate in float64 (then 1e-10).
- **Softmax without Paddle's clip, and with accurate gradients.** Paddle's CPU softmax, log_softmax
  and cross-entropy put every logit at most 64 below the top (so -log p of a class 100 below reads
  64). log softmax is z - log1p(R) (z = x - x_top, R the other classes' mass), whose gradient at a
  class holding nearly all the mass is a sum of small terms rather than 1 - p, which float32 rounds
  to 0; the probabilities' backward does the same for the top class. The cross-entropy of class
  indices is -(z_y - log1p(R)) from the NumPy softmax on the CPU; on a device Paddle's fused kernel
  runs, and what its clip cut is added back. The softmax BCE's backward takes each class's odds
  p / (1 - p) below the top (where p <= 1/2 and 1 - p is exact) and the top's as 1 / R, and gives the
  top class minus the others' sum (the entries add up to 0); where R < e^-40 it runs in logs.
- **Tails.** Paddle's softplus rounds log(1 + e^-30) to 0 and its sigmoid's backward, p (1 - p), is
  0 once p rounds to 1: the runtime's softplus is max(t, 0) + log1p(e^-|t|), its sigmoid has the
  slope p sigmoid(-x), sums of 1 - p over sigmoid probabilities (Tversky's false negatives, MCC's
  true negatives) are sums of sigmoid(-x), log(1 - softmax) of the top class is a logsumexp of the
  others, and log(cosh z) is log1p(2 sinh(z/2)^2) near 0 (where |z| + softplus(-2|z|) - log 2
  cancels) and the overflow-free form beyond.
"""


def _say(text: str = "") -> None:
    print(text, flush=True)



def add_arguments(parser) -> None:
    parser.add_argument("names", nargs="*", help="losses to measure (default: every registered one)")
    parser.add_argument("--quick", action="store_true",
                        help="the tests' corpus: 64x64 images (default: 256x256 and 512x512)")
    parser.add_argument("--output", metavar="PATH",
                        help="Markdown file to write (default: docs/accuracy.md of the source checkout, for a "
                             "full run of every loss)")
    parser.add_argument("--no-write", action="store_true", help="print only; write no Markdown file")
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 512], metavar="SIZE",
                        help="image sizes of the full corpus (default: 256 512)")
    parser.add_argument("--jobs", type=int, default=1, metavar="N",
                        help="losses measured at once, each in a process of its own (default 1)")
    parser.add_argument("--size", type=int, metavar="SIZE",
                        help="the quick corpus's rows (every scene at |x| = 30, random labels at every magnitude) "
                             "at SIZExSIZE instead of the full corpus")


def default_output() -> Path | None:
    """docs/accuracy.md of the source checkout this package runs from (editable install)."""
    root = Path(__file__).resolve().parents[2]
    return root / "docs" / "accuracy.md" if (root / "pyproject.toml").exists() else None


def _error(value: float) -> str:
    return "inf" if math.isinf(value) else f"{value:.1e}"


def _cell(worst, attribute: str) -> str:
    if worst is None or not worst.rows:
        return "-"
    text = _error(getattr(worst, attribute))
    return text + (f" ({worst.nonfinite} NaN/Inf)" if worst.nonfinite else "")


def render(summaries: list, rows: list, seconds: float, command: str = "symloss accuracy") -> str:
    """docs/accuracy.md: the summary table, the method, the corpus and each loss's worst rows and exemptions."""
    out = [PREAMBLE.replace("{command}", command)]
    unrolled = [s for s in summaries if s.oracle != "pooled"]
    out.append(f"Corpus: {_sizes(rows)} for every loss the pooled oracle evaluates"
               + (f"; {_sizes(unrolled[0].corpus)} for the {len(unrolled)} it does not (the unrolled oracle: "
                  "see Method)" if unrolled else "")
               + f". Measured in {seconds / 60:.0f} min on {len(summaries)} losses.\n")
    out.append("## Worst errors\n")
    out.append("Worst over the corpus of each loss (value: |v - v*| / |v*|; gradient: ||g - g*|| / ||g*||). "
               "*within targets*: no NaN or Inf, value <= 1e-5 (ill-conditioned rows: no worse than the "
               "literal), gradient <= 1e-4, never worse than 2 x the literal on any row.\n")
    out.append("| loss | value: generated | literal | Paddle | gradient: generated | literal | Paddle | within targets | oracle |")
    out.append("|---|---|---|---|---|---|---|---|---|")
    for s in summaries:
        w = s.worst
        verdict = "yes" if not s.violations else f"**no** ({len(s.violations)} rows)"
        out.append(f"| {s.name} | {_cell(w.get('generated'), 'value')} | {_cell(w.get('literal'), 'value')} | "
                   f"{_cell(w.get('Paddle'), 'value')} | {_cell(w.get('generated'), 'gradient')} | "
                   f"{_cell(w.get('literal'), 'gradient')} | {_cell(w.get('Paddle'), 'gradient')} | {verdict} | "
                   f"{'pooled' if s.oracle == 'pooled' else f'unrolled, {_largest(s.corpus)}'} |")
    out.append("")
    out.append(DESIGN)
    out.append(METHOD)
    out.append("## Corpus\n")
    out.append("Each row is an image batch whose logits are drawn from palettes (a few magnitudes per class, "
               "placed at random), so that pixels repeat a few kinds: every float32 sum still runs over every "
               "pixel, and the exact evaluation stays cheap. The predicted class is right on 80% of the pixels "
               "and wrong on 20%; the logits' magnitudes are |x| (1e-3, 5, 30, 88) times a factor in "
               "[0.75, 1], drawn per palette entry, predicted and target class, and sign, so that pixels tie "
               "(in a sort) only with pixels of their own kind.\n")
    for scene, text in SCENE_TEXT.items():
        out.append(f"- `{scene}`: {text}")
    unrolled_rows = unrolled[0].corpus if unrolled else []
    large = [r for r in unrolled_rows if r.size != acc.UNROLLED_SIZE]
    out.append(f"\nC in {{{', '.join(map(str, CLASSES))}}}; {_layout_text(rows)} The losses measured with the "
               f"unrolled oracle: {acc.UNROLLED_SIZE}x{acc.UNROLLED_SIZE} images (2 per row), every scene at |x| = 30"
               + (", and one image each at |x| = 30: " + "; ".join(
                   f"{r.scene}, C={r.classes}, {r.size}x{r.size}" for r in large) if large else "")
               + ". Each pixel of theirs has its own logits (no palette).\n")
    out.append("## Per loss\n")
    for s in summaries:
        out.append(f"### {s.name}\n")
        out.append(f"- oracle: {s.oracle}; {_sizes(s.corpus)}; {s.seconds:.0f} s")
        gen = s.worst.get("generated")
        if gen is not None and gen.rows:
            out.append(f"- worst value error {_error(gen.value)}: {gen.value_row or '-'}")
            out.append(f"- worst gradient error {_error(gen.gradient)}: {gen.gradient_row or '-'}")
        for title, items, fmt in (
                ("ill-conditioned value (kappa u > 1e-5; target: the literal's error)", s.ill_conditioned,
                 lambda t: f"{t[0]} (kappa {t[1]:.1e})"),
                ("value the literal formula rounds beyond 1e-5 (u Lambda > 1e-5; target: the literal's error)",
                 s.rounding_limited, lambda t: f"{t[0]} (u Lambda {t[1]:.1e})"),
                ("gradient below float32's range (exempt from the gradient targets)", s.unrepresentable,
                 lambda t: f"{t[0]} (rounding the exact gradient to float32 errs by {_error(t[1])})"),
                ("values float32 cannot order (exempt from the gradient error target)", s.unresolved,
                 lambda t: f"{t[0]} ({t[1]} pairs within 8 ulps)"),
                ("loss not finite (no comparison)", s.undefined, str)):
            if items:
                out.append(f"- {title}: " + "; ".join(fmt(t) for t in items))
        for v in s.violations:
            out.append(f"- **target missed**: {v}")
        out.append("")
    return "\n".join(out).rstrip() + "\n"


def _sizes(rows: list) -> str:
    """'N rows (2x256x256, 1x512x512)'."""
    shapes = sorted({(r.size, r.images) for r in rows})
    return f"{len(rows)} rows ({', '.join(f'{n}x{s}x{s}' for s, n in shapes)})"


def _largest(rows: list) -> str:
    """'17x17' or '17x17 to 256x256': the image sizes of a corpus."""
    sizes = sorted({r.size for r in rows})
    return " to ".join(f"{n}x{n}" for n in sorted({sizes[0], sizes[-1]}))


def _layout_text(rows: list) -> str:
    sizes = sorted({r.size for r in rows})
    if len(sizes) == 1:
        return f"{sizes[0]}x{sizes[0]} images: every scene at |x| = 30, random labels at every magnitude."
    return (f"{sizes[0]}x{sizes[0]} (2 images): every scene at every magnitude; "
            + ", ".join(f"{s}x{s}" for s in sizes[1:]) + " (1 image): every scene at |x| = 5 and random labels "
            "at every magnitude.")


def _corpora(args) -> tuple[list, list]:
    """(rows, the unrolled oracle's rows) the arguments ask for."""
    rows = (acc.quick_corpus() if args.quick else acc.quick_corpus(args.size) if args.size
            else acc.corpus(tuple(args.sizes)))
    return rows, acc.unrolled_corpus(quick=args.quick)


def _measure_one(name: str, args):
    """One loss's Summary (in a worker process too: the registry and corpus are built there)."""
    from symloss.benchmarks.accuracy import implementations

    from ..frontend.loader import load_registry

    registry = load_registry()
    rows, small = _corpora(args)
    began = time.perf_counter()
    _, why = acc.oracle_for(registry[name], registry)
    measured = acc.measure(registry[name], registry, implementations(registry, name), small if why else rows)
    s = acc.summarize(name, measured)
    s.oracle = f"unrolled ({why})" if why else "pooled"
    s.corpus = small if why else rows
    s.seconds = time.perf_counter() - began
    return s


def _measured(names: list, args):
    """Each loss's Summary, in the order of `names`; with --jobs N, N losses at once in fresh processes
    (spawned: a forked Paddle is not safe)."""
    if args.jobs <= 1:
        for name in names:
            yield _measure_one(name, args)
        return
    import concurrent.futures
    import multiprocessing

    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(args.jobs, mp_context=context) as pool:
        yield from pool.map(_measure_one, names, [args] * len(names))


def run(args) -> int:
    from ..frontend.loader import load_registry

    registry = load_registry()
    names = args.names or sorted(registry)
    missing = [n for n in names if n not in registry]
    if missing:
        raise SpecError(f"no loss named {', '.join(map(repr, missing))}; `symloss list` shows the registered ones")
    if args.jobs < 1:
        raise SpecError(f"--jobs must be at least 1, got {args.jobs}")
    rows, small = _corpora(args)
    _say(f"symloss accuracy: {len(names)} losses x {len(rows)} rows ({len(small)} for the unrolled oracle's), "
         "float32 against the 100-digit oracle")
    start = time.perf_counter()
    summaries = []
    for s in _measured(names, args):
        summaries.append(s)
        gen = s.worst.get("generated")
        _say(f"  {s.name:<24} value {_error(gen.value)}  gradient {_error(gen.gradient)}  "
             f"{'ok' if not s.violations else f'{len(s.violations)} rows miss the targets'}  "
             f"({s.seconds:.0f} s{', unrolled oracle' if s.oracle != 'pooled' else ''})")
        for v in s.violations:
            _say(f"      {v}")
    seconds = time.perf_counter() - start
    output = Path(args.output) if args.output else (default_output() if not args.names and not args.quick else None)
    if output is not None and not args.no_write:
        output.parent.mkdir(parents=True, exist_ok=True)
        command = ("symloss accuracy" + (f" --size {args.size}" if args.size else "")
                   + (f" --jobs {args.jobs}" if args.jobs > 1 else ""))
        output.write_text(render(summaries, rows, seconds, command), encoding="utf-8")
        _say(f"wrote {output}")
    failed = [s.name for s in summaries if s.violations]
    _say(f"{len(summaries) - len(failed)} of {len(summaries)} losses within the targets ({seconds / 60:.1f} min)")
    return 1 if failed else 0
