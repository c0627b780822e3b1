"""`symloss bench`: argument definitions and the run (importing this module must not import paddle)."""
from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

DEFAULT_SHAPES = [(8, 1, 256, 256), (8, 4, 256, 256)]
MIN_REPEATS = 7  # issue 4: medians of at least 7 repeats

PREAMBLE = """# Performance

Forward + backward time and peak memory of every generated loss against its floor, Paddle's and
PaddleSeg's own losses, and the spec's literal translation. The tables below are written by
`symloss bench`; see the method in the hand-written part of this file.
"""


def shape(text: str) -> tuple:
    try:
        dims = tuple(int(v) for v in text.replace("x", ",").split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not N,C,H,W (integers, e.g. 8,4,256,256)") from None
    if not 3 <= len(dims) <= 5 or min(dims) < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: expected N,C,*spatial with 1 to 3 positive spatial dims")
    return dims


def add_arguments(parser) -> None:
    """Add the benchmark's options to its argparse sub-parser."""
    parser.add_argument("names", nargs="*", help="losses to time (default: every registered one)")
    parser.add_argument("--shape", action="append", type=shape, metavar="N,C,H,W",
                        help="logit shape, repeatable (default: 8,1,256,256 and 8,4,256,256)")
    parser.add_argument("--repeats", type=int, default=9, metavar="K",
                        help="timed rounds after warm-up; the median is reported (default 9, at least 7 to quote)")
    parser.add_argument("--warmup", type=int, default=2, metavar="W", help="untimed calls per case first (default 2)")
    parser.add_argument("--output", metavar="PATH",
                        help="Markdown file to write the tables into (default: docs/performance.md of the "
                             "source checkout, for a full run only)")
    parser.add_argument("--no-write", action="store_true", help="print only; write no Markdown file")
    parser.add_argument("--json", metavar="PATH", help="also write every measurement as JSON")
    parser.add_argument("--compile-times", dest="compile_times", action="store_true", default=None,
                        help="also time `symloss build` and `symloss check` (default: for a full run)")
    parser.add_argument("--no-compile-times", dest="compile_times", action="store_false")
    parser.add_argument("--no-malloc-env", action="store_true",
                        help="do not re-run under the glibc malloc variables (noisier; for comparison)")
    parser.add_argument("--device", choices=("cpu", "gpu"), default="cpu",
                        help="where the tensors live: cpu (default) or gpu (Paddle's first CUDA device; each "
                             "timed call ends with a device synchronisation, memory is the GPU allocator's)")
    parser.add_argument("--no-scale", action="store_true",
                        help="leave out the larger shapes a full run adds (8,4,512,512 and 2,4,96,96,96)")


def is_full_run(args) -> bool:
    return not args.names and not args.shape and args.repeats >= MIN_REPEATS


def blocks_to_run(args, names) -> list[tuple]:
    """(shape, losses) of each block: the shapes asked for, else the default shapes for every loss and
    the scale shapes for the scale losses (unless --no-scale)."""
    from .cases import SCALE_LOSSES, SCALE_SHAPES

    if args.shape:
        return [(s, names) for s in args.shape]
    out = [(s, names) for s in DEFAULT_SHAPES]
    scale = [n for n in names if n in SCALE_LOSSES]
    if scale and not args.no_scale:
        out += [(s, scale) for s in SCALE_SHAPES]
    return out


def default_output() -> Path | None:
    """docs/performance.md of the source checkout this package runs from (editable install)."""
    root = Path(__file__).resolve().parent.parent
    return root / "docs" / "performance.md" if (root / "pyproject.toml").exists() else None


def to_argv(args) -> list[str]:
    """The command line that parses back to `args` (for re-running in a subprocess)."""
    argv = list(args.names)
    for s in args.shape or []:
        argv += ["--shape", ",".join(map(str, s))]
    argv += ["--repeats", str(args.repeats), "--warmup", str(args.warmup)]
    argv += ["--output", args.output] if args.output else []
    argv += ["--no-write"] if args.no_write else []
    argv += ["--json", args.json] if args.json else []
    if args.compile_times is not None:
        argv.append("--compile-times" if args.compile_times else "--no-compile-times")
    argv += ["--device", args.device] if args.device != "cpu" else []
    argv += ["--no-scale"] if args.no_scale else []
    return argv + (["--no-malloc-env"] if args.no_malloc_env else [])


def _families(names) -> dict:
    """Each loss's family (region, distribution, ...), from its spec; {} if the compiler fails."""
    try:
        from symloss.compiler.frontend.loader import load_registry

        registry = load_registry()
    except Exception:
        return {}
    return {n: registry[n].family for n in names if n in registry}


def _say(text="") -> None:
    print(text, flush=True)


def run(args) -> int:
    """Run the benchmark; imports paddle lazily."""
    from . import env

    if args.repeats < 1 or args.warmup < 0:
        _say("symloss bench: error: --repeats must be >= 1 and --warmup >= 0")
        return 2
    if (env.is_glibc() and env.malloc_missing() and not args.no_malloc_env
            and not os.environ.get(env.CHILD_FLAG)):
        return env.reexec(to_argv(args))
    started = time.perf_counter()
    _say(f"symloss bench: glibc malloc variables {env.malloc_state()}")
    if args.repeats < MIN_REPEATS:
        _say(f"symloss bench: {args.repeats} repeats: fewer than {MIN_REPEATS}, do not quote these numbers")

    import paddle

    if args.device == "gpu":
        if not (paddle.device.is_compiled_with_cuda() and paddle.device.cuda.device_count() > 0):
            _say("symloss bench: error: --device gpu needs a CUDA build of Paddle and a visible GPU")
            return 2
        paddle.device.set_device("gpu:0")
    else:
        paddle.device.set_device("cpu")

    from symloss.paddle import FUNCTIONS

    names = args.names or sorted(FUNCTIONS)
    unknown = [n for n in names if n not in FUNCTIONS]
    if unknown:
        _say(f"symloss bench: error: no generated loss named {', '.join(unknown)}; registered: "
             f"{', '.join(sorted(FUNCTIONS))}")
        return 2

    from . import compile_times, report
    from .literal import load_literals
    from .runner import run_block

    full = is_full_run(args)
    times = []
    if args.compile_times or (args.compile_times is None and full):
        _say("symloss bench: timing `symloss build` and `symloss check` (one process each) ...")
        times = compile_times.measure()
        _say("\n".join(report.compile_markdown(times)) + "\n")
    load_before = env.load_average()
    literals, missing = load_literals(names)
    families = _families(names)
    blocks = []
    for s, losses in blocks_to_run(args, names):
        _say(f"symloss bench: {report.shape_text(s)}: {len(losses)} losses, {args.warmup} warm-up + "
             f"{args.repeats} interleaved rounds ...")
        block = run_block(s, {n: FUNCTIONS[n] for n in losses}, literals, missing, args.repeats, args.warmup,
                          families, args.device)
        blocks.append(block)
        _say("\n".join(report.block_markdown(block)))
    meta = {
        "command": "symloss bench " + " ".join(to_argv(args)),
        "date": time.strftime("%Y-%m-%d %H:%M"),
        **env.versions(args.device),
        "glibc malloc": env.malloc_state(),
        "rounds": f"{args.warmup} warm-up + {args.repeats} timed, interleaved; median reported",
        "load average (1, 5, 15 min) before / after": f"{load_before} / {env.load_average()}",
        "wall time of this run": f"{time.perf_counter() - started:.0f} s",
    }
    text = report.markdown(blocks, times, meta)
    _say("\n".join(report.targets_markdown(blocks)))
    _say(report.target_summary(blocks))
    for line in report.notes(blocks):
        _say(line)
    output = None if args.no_write else (Path(args.output) if args.output else (default_output() if full else None))
    if output:
        report.write_markdown(output, text, PREAMBLE, args.device)
        _say(f"\nsymloss bench: wrote {output}")
    if args.json:
        Path(args.json).write_text(report.as_json(blocks, times, meta), encoding="utf-8")
        _say(f"symloss bench: wrote {args.json}")
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="symloss bench", description="Time generated losses against baselines.")
    add_arguments(parser)
    return run(parser.parse_args(argv))
