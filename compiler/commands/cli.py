"""The `symloss` command: build, check, list, show, new."""
from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import time
from pathlib import Path

from ..frontend.errors import SpecError


def package_dir() -> Path:
    """The folder of the generated package `symloss.paddle` (found without importing paddle)."""
    return Path(importlib.util.find_spec("symloss.paddle").submodule_search_locations[0])


def _say(text: str = "") -> None:
    print(text, flush=True)


def _registry(paths=()):
    from ..frontend.loader import load_registry

    return load_registry(paths)


def _compile(registry, names, render=None, jobs=None, reuse=False):
    """Check (and render) specs on every core, printing one line per spec as it finishes."""
    from .build import compile_specs

    def report(done):
        bad = sum(not o.ok for o in done.outcomes)
        state = "ok" if not bad else f"{bad} FAILED"
        if done.reused:
            _say(f"  reused  {done.name:<24} {len(done.outcomes):>2} claims {state:<10} (checked by an earlier build)")
        else:
            _say(f"  checked {done.name:<24} {len(done.outcomes):>2} claims {state:<10} {done.seconds:6.2f} s")

    return compile_specs(registry, names, render=render, jobs=jobs, on_result=report, reuse=reuse)


def _unknown(registry, names):
    missing = [n for n in names if n not in registry]
    if missing:
        raise SpecError(f"no loss named {', '.join(map(repr, missing))}; `symloss list` shows the registered ones")


# --------------------------------------------------------------------------- commands

def cmd_build(args) -> int:
    from ..backend.emit import render_package, require_formatter
    from .build import requested_names
    from .report import failures, proof_table, summary
    from ..backend.write import apply, plan

    start = time.perf_counter()
    require_formatter(exact=not args.out)  # the committed package is laid out by one pinned black
    registry = _registry(args.paths)
    from ..frontend.loader import bundled_dir

    requested = requested_names(registry, args.paths)
    if args.paths and not requested:
        raise SpecError(f"no spec in {', '.join(map(str, args.paths))}: name spec files (*.py) or folders holding them")
    outside = [n for n in requested if Path(registry[n].path).resolve().parent != bundled_dir().resolve()]
    if outside and not args.out:
        raise SpecError(f"{', '.join(outside)} lie outside the bundled specs: name an output folder with --out DIR")
    standalone = bool(requested) and bool(args.out)  # named specs -> one standalone module each
    names = requested if standalone else sorted(registry)
    out_dir = Path(args.out) if args.out else package_dir()
    what = "standalone modules" if standalone else "the symloss.paddle package"
    _say(f"symloss build: {len(names)} specs -> {what} in {out_dir}")
    compiled = _compile(registry, names, render="standalone" if standalone else "package", jobs=args.jobs,
                        reuse=not args.no_cache)
    outcomes = [o for c in compiled for o in c.outcomes]
    failed = [o for o in outcomes if not o.ok]
    if not args.quiet or failed:
        _say()
        _say(proof_table(outcomes))
        _say()
    _say(summary(outcomes, sum(c.cpu_seconds for c in compiled), time.perf_counter() - start))
    if failed:
        _say(failures(failed))
        _say(f"build stopped: {len(failed)} claims failed; {out_dir} is unchanged")
        return 1
    modules = {c.name: c.module for c in compiled}
    if standalone:
        files = {f"{name}.py": modules[name] for name in names}
    else:
        files = render_package(registry, names, modules)
    result = plan(files, out_dir, remove_orphans=not standalone)
    for name in sorted(files):
        if name in result.changed:
            _say(f"  {'would change' if args.check else 'changed':<12} {out_dir / name}")
        elif not args.quiet:
            _say(f"  {'unchanged':<12} {out_dir / name}")
    for name in result.removed:
        _say(f"  {'would remove' if args.check else 'removed':<12} {out_dir / name} (no spec produces it)")
    seconds = time.perf_counter() - start
    if args.check:
        if result.clean:
            _say(f"{out_dir} is up to date ({len(files)} files, {seconds:.1f} s wall time)")
            return 0
        _say(result.diff())
        _say(f"{out_dir} is out of date: run `symloss build` and commit the result")
        return 1
    apply(result)
    _say(f"wrote {len(result.changed)} files, removed {len(result.removed)}, "
         f"{len(files) - len(result.changed)} unchanged ({seconds:.1f} s wall time)")
    return 0


def cmd_check(args) -> int:
    from .report import failures, proof_table, summary

    start = time.perf_counter()
    registry = _registry(args.spec)
    names = args.names or sorted(registry)
    _unknown(registry, names)
    compiled = _compile(registry, names, jobs=args.jobs)
    outcomes = [o for c in compiled for o in c.outcomes]
    _say()
    _say(proof_table(outcomes))
    _say()
    _say(summary(outcomes, sum(c.cpu_seconds for c in compiled), time.perf_counter() - start))
    failed = [o for o in outcomes if not o.ok]
    if failed:
        _say(failures(failed))
    return 0 if not failed else 1


def cmd_list(args) -> int:
    from ..backend.emit import default_text
    from .report import table

    registry = _registry(args.spec)
    rows = []
    for name in sorted(registry):
        loss = registry[name]
        params = ", ".join(f"{p.name}={default_text(p)}" for p in loss.params) or "-"
        rows.append([name, loss.family, params, loss.paper])
    _say(table(rows, ["name", "family", "parameters", "paper"]))
    _say(f"\n{len(rows)} losses")
    return 0


def cmd_show(args) -> int:
    import sympy as sp

    from ..backend.emit import default_text, domain_text, render_loss
    from ..frontend.expand import resolve

    registry = _registry(args.spec)
    _unknown(registry, [args.name])
    loss = registry[args.name]
    _say(f"{loss.name}: {loss.title} ({loss.family}), {loss.paper}")
    _say(f"  {loss.summary}")
    if loss.notes:
        _say(f"  {loss.notes.strip()}")
    _say(f"  spec: {loss.path}")
    _say("\nformula:")
    _say(f"  {sp.sstr(loss.expr)}")
    resolved = resolve(loss.expr, registry)
    if resolved != loss.expr:
        _say(f"  = {sp.sstr(resolved)}")
    _say("\nLaTeX:")
    _say(f"  {sp.latex(loss.expr)}")
    _say("\nparameters:")
    for prm in loss.params or []:
        _say(f"  {prm.name} = {default_text(prm)}  allowed: {domain_text(prm)}  {prm.doc}")
    if not loss.params:
        _say("  (none)")
    _say("\nclaims:")
    for claim in loss.claims:
        tag = "  [erratum: expected to fail]" if claim.expect == "refuted" else ""
        _say(f"  - {claim.text}{tag}")
    source = render_loss(loss, registry)
    start = source.index(f"def {loss.name}_loss(")
    end = source.index("\nclass ", start)
    _say("\ngenerated function:")
    _say(source[start:end].rstrip())
    return 0


def cmd_docs(args) -> int:
    from .docs import plot, render_docs
    from ..frontend.loader import bundled_dir

    root = Path(args.root) if args.root else bundled_dir().parent
    readme = root / "README.md"
    if not readme.exists():
        raise SpecError(f"no README.md in {root}: run from a checkout, or name it with --root")
    registry = _registry()
    outcomes = {c.name: c.outcomes for c in _compile(registry, sorted(registry))}
    texts, plots = render_docs(registry, outcomes, readme.read_text(encoding="utf-8"))
    stale = [p for p, t in texts.items() if not (root / p).exists() or (root / p).read_text(encoding="utf-8") != t]
    missing = [p for p in plots if not (root / p).exists()]
    if args.check:
        for p in stale + missing:
            _say(f"  out of date: {root / p}")
        if stale or missing:
            _say("docs are out of date: run `symloss docs` and commit the result")
            return 1
        _say(f"docs are up to date ({len(texts)} pages, {len(plots)} plots)")
        return 0
    for p in stale:
        (root / p).parent.mkdir(parents=True, exist_ok=True)
        (root / p).write_text(texts[p], encoding="utf-8")
        _say(f"  wrote {root / p}")
    for p, (data, title) in sorted(plots.items()):
        page = p[: -len(".png")] + ".md"
        if p in missing or page in stale or args.plots:
            plot(data, title, root / p)
            _say(f"  drew  {root / p}")
    _say(f"{len(stale)} pages written, {len(texts) - len(stale)} unchanged")
    return 0


SKELETON = '''"""{title} loss: one line on what it does and who proposed it."""
# A spec builds one `LOSS = Loss(...)` from the symloss DSL. Run `symloss check {name}` to prove
# its claims and `symloss build` to compile it into symloss.paddle.{name}_loss.
from sympy import Symbol  # noqa: F401  (for symbols quantified in claims, e.g. s = Symbol("s"))

from symloss.compiler.dsl import Identity, Loss, Param, Property, Sum, c, g, i, log, p, ref  # noqa: F401

# Fields are indexed [c, i]: p = predicted probability, g = target, x = raw logit; c runs over
# classes, i over the valid pixels of one image (or of the batch when batch=True).
# A parameter carries its default, its domain (low, high; None = unbounded) and its role.
smooth = Param("smooth", 1.0, domain=(0, None), doc="added to numerator and denominator")

# Sum(expr, i) sums over pixels, Sum(expr, c) over classes; Mean(expr, i) divides by the pixel count.
tp = Sum(p[c, i] * g[c, i], i)

LOSS = Loss(
    name="{name}",  # the registry key and the function name: symloss.paddle.{name}_loss
    title="{title}",
    family="region",  # distribution | region | boundary | compound
    paper="arXiv:0000.00000",  # arXiv id or DOI of the paper that defines it
    summary="One sentence on what the loss measures.",
    params=[smooth],
    # The formula. Indices left free decide the granularity: free c = one loss per class,
    # free i = one loss per pixel; reduction="mean" averages them.
    expr=1 - (2 * tp + smooth) / (Sum(p[c, i], i) + Sum(g[c, i], i) + smooth),
    claims=[
        # Identities with other specs (ref binds their parameters), and properties.
        # Identity(ref("{name}", smooth=0), ref("dice", smooth=0)),
        Property.nonnegative(),
        Property.zero_at_perfect(smooth=0),
    ],
)
'''


def skeleton_title(name: str) -> str:
    """A title from a snake_case name, less a trailing "loss" (the docs add it: "My dice loss")."""
    words = name.split("_")
    if len(words) > 1 and words[-1] == "loss":
        words = words[:-1]
    return " ".join(w for w in words if w).capitalize()


def cmd_new(args) -> int:
    from ..frontend.language import NAME_RE
    from ..frontend.loader import bundled_dir

    if not NAME_RE.fullmatch(args.name):
        raise SpecError(f"{args.name!r} is not a snake_case name: use lowercase letters, digits and _, e.g. my_dice")
    folder = Path(args.dir) if args.dir else bundled_dir()
    path = folder / f"{args.name}.py"
    if path.exists():
        raise SpecError(f"{path} exists already: pick another name or edit it", path=str(path))
    folder.mkdir(parents=True, exist_ok=True)
    title = skeleton_title(args.name)
    path.write_text(SKELETON.format(name=args.name, title=title), encoding="utf-8")
    _say(f"wrote {path}: edit the formula and claims, then run `symloss check {args.name}`")
    return 0


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="symloss", description="Compile segmentation losses from symbolic specs.")
    sub = top.add_subparsers(dest="command", required=True)

    b = sub.add_parser("build", help="load, validate, prove and emit Paddle code")
    b.add_argument("paths", nargs="*", help="spec files or folders (default: every bundled spec)")
    b.add_argument("--out", help="output folder (default: the symloss.paddle package)")
    b.add_argument("--check", action="store_true", help="write nothing; exit 1 if the output would change")
    b.add_argument("--quiet", action="store_true", help="omit the proof table unless a claim fails")
    b.add_argument("--jobs", type=int, help="worker processes (default: one per core)")
    b.add_argument("--no-cache", action="store_true",
                   help="check every claim again, even where an earlier build checked the same specs with the "
                        "same compiler (outcomes kept in $SYMLOSS_CACHE_DIR, else ~/.cache/symloss/claims)")
    b.set_defaults(run=cmd_build)

    c = sub.add_parser("check", help="prove every claim and print the proof table")
    c.add_argument("names", nargs="*", help="losses to check (default: all)")
    c.add_argument("--spec", action="append", default=[], help="also load this spec file or folder")
    c.add_argument("--jobs", type=int, help="worker processes (default: one per core)")
    c.set_defaults(run=cmd_check)

    ls = sub.add_parser("list", help="list the registered losses")
    ls.add_argument("--spec", action="append", default=[], help="also load this spec file or folder")
    ls.set_defaults(run=cmd_list)

    s = sub.add_parser("show", help="formula, parameters, claims and generated code of one loss")
    s.add_argument("name", help="a registered loss, e.g. tversky (`symloss list` shows them)")
    s.add_argument("--spec", action="append", default=[], help="also load this spec file or folder")
    s.set_defaults(run=cmd_show)

    from symloss.benchmarks import cli as bench_cli
    from symloss.experiment import cli as experiment_cli

    bench = sub.add_parser("bench", help="time generated losses against hand-written baselines")
    bench_cli.add_arguments(bench)
    bench.set_defaults(run=bench_cli.run)

    exp = sub.add_parser("experiment", help="train the same U-Net with each loss and compare")
    experiment_cli.add_arguments(exp)
    exp.set_defaults(run=experiment_cli.run)

    from . import accuracy as accuracy_cli

    a = sub.add_parser("accuracy", help="float32 error of every loss against the 100-digit oracle (docs/accuracy.md)")
    accuracy_cli.add_arguments(a)
    a.set_defaults(run=accuracy_cli.run)

    d = sub.add_parser("docs", help="regenerate the README catalog and docs/losses/ (pages and plots)")
    d.add_argument("--check", action="store_true", help="write nothing; exit 1 if a page is out of date")
    d.add_argument("--plots", action="store_true", help="redraw every plot, even for unchanged pages")
    d.add_argument("--root", help="the checkout to write into (default: the one holding the bundled specs)")
    d.set_defaults(run=cmd_docs)

    n = sub.add_parser("new", help="write a commented spec skeleton")
    n.add_argument("name", help="snake_case name of the new loss, e.g. my_dice: writes <dir>/my_dice.py")
    n.add_argument("--dir", help="folder for the new spec (default: the bundled specs folder)")
    n.set_defaults(run=cmd_new)
    return top


def main(argv=None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.run(args)
    except SpecError as err:
        print(f"symloss {args.command}: error: {err}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # The reader went away (`symloss show dice | head -2`): stop quietly, as `cat` does. Output
        # still buffered for the closed pipe goes to /dev/null, so exiting raises nothing either.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141  # 128 + SIGPIPE: how a shell reports a command that a closed pipe ended


if __name__ == "__main__":
    sys.exit(main())
