"""Smoke tests of the benchmark harness (`symloss bench`): the table's structure, never timings."""
import json
import math
import os
import subprocess
import sys

import pytest

TINY = [(2, 1, 8, 8), (2, 3, 8, 8)]


def test_cli_module_does_not_import_paddle():
    code = ("import sys, symloss.benchmarks.cli, symloss.benchmarks.cases; "
            "assert 'paddle' not in sys.modules, 'benchmarks.cli imported paddle'")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_plans_name_known_baselines_and_targets():
    from symloss.benchmarks import cases
    from symloss.benchmarks.runner import BASELINES

    named = (cases.BEST, cases.LITERAL, cases.FLOORS, cases.PLAIN_FLOOR, cases.REFERENCE_MAPS)
    for name, plans in cases.PLANS.items():
        for plan in plans:
            assert set(plan.same + plan.reference) <= set(BASELINES), name
            for target in plan.targets() + (cases.MAP_TARGET,) + sum(cases.FAMILY_TARGETS.values(), ()):
                assert target.against in named or target.against in BASELINES
                assert target.against != cases.BEST or plan.same, f"{name}: 'best' needs same-value baselines"
                assert target.limit > 0 and target.kind in ("time", "memory")


def test_family_and_map_targets_are_added():
    from symloss.benchmarks import cases

    dice = cases.plans_for("dice", 4, "region")[0]
    assert any(t.kind == "memory" and t.against == cases.PLAIN_FLOOR for t in dice.targets())
    maps = cases.plans_for("hausdorff_dt", 1, "boundary")[0]
    assert cases.MAP_TARGET in maps.targets() and maps.target.against == cases.LITERAL


def _positive(r):
    return r is not None and math.isfinite(r[0]) and r[0] > 0


@pytest.fixture(scope="module")
def blocks():
    from symloss.benchmarks.literal import load_literals
    from symloss.benchmarks.runner import run_block
    from symloss.paddle import FUNCTIONS

    from symloss.compiler.frontend.loader import load_registry

    literals, missing = load_literals(sorted(FUNCTIONS))
    families = {n: spec.family for n, spec in load_registry().items()}
    return [run_block(s, dict(FUNCTIONS), literals, missing, repeats=2, warmup=1, families=families) for s in TINY]


def test_every_registered_loss_has_a_row_with_positive_ratios(blocks):
    from symloss.paddle import FUNCTIONS

    assert {r.loss for b in blocks for r in b.rows} == set(FUNCTIONS)
    for block in blocks:
        assert block.measurements["floor: sum(x*y)"].ok
        for row in block.rows:
            assert row.gen.ok, f"{row.loss}: {row.gen.error}"
            assert len(row.gen.times_ms) == 2
            assert row.lit is not None and row.lit.ok, f"{row.loss}: no literal translation: {row.lit_missing}"
            assert _positive(row.ratios["floor"]) and _positive(row.ratios["literal"]), row.loss
            assert row.gen.peak_bytes is None or row.gen.peak_bytes >= 0
            if row.best:
                assert _positive(row.ratios["best"])
            assert [v.target for v in row.verdicts] == list(row.plan.targets())
            for verdict in row.verdicts:
                if verdict.met is not None:
                    assert _positive(verdict.ratio), (row.loss, verdict.target)
                else:
                    assert verdict.why_not


def test_distance_map_losses_are_timed_against_their_reference_maps(blocks):
    from symloss.benchmarks import cases

    for block in blocks:
        for row in block.rows:
            if row.loss in cases.MAP_LOSSES:
                verdict = next(v for v in row.verdicts if v.target is cases.MAP_TARGET)
                assert verdict.against.startswith(cases.REFERENCE_MAPS) and verdict.met is not None
                assert not row.mismatches, row.mismatches  # the same value with either maps


def test_scaling_table_compares_the_shapes_of_one_class_count(blocks):
    from symloss.benchmarks import report

    again = [blocks[0], type(blocks[0])((2, 1, 16, 16), blocks[0].measurements, {}, blocks[0].rows)]
    lines = report.scaling_markdown(again)
    assert any("2x1x8x8" in line and "2x1x16x16" in line for line in lines)
    assert report.scaling_markdown(blocks) == []  # one shape per class count: nothing to compare


def test_gpu_tables_have_their_own_markers(tmp_path):
    from symloss.benchmarks import report

    path = tmp_path / "performance.md"
    report.write_markdown(path, "CPU-TABLE", "# Title")
    report.write_markdown(path, "GPU-TABLE", "unused", device="gpu")
    report.write_markdown(path, "CPU-AGAIN", "unused")
    text = path.read_text()
    assert "GPU-TABLE" in text and "CPU-AGAIN" in text and "CPU-TABLE" not in text


def test_markdown_has_every_loss_and_keeps_prose_outside_markers(blocks, tmp_path):
    from symloss.benchmarks import report
    from symloss.paddle import FUNCTIONS

    text = report.markdown(blocks, [], {"command": "test"})
    for name in FUNCTIONS:
        assert f"`{name}`" in text
    path = tmp_path / "performance.md"
    report.write_markdown(path, "PLACEHOLDER-TABLE", "# Title\n\nmethod")
    path.write_text(path.read_text() + "\nhand-written analysis\n")
    report.write_markdown(path, text, "unused")
    written = path.read_text()
    assert written.startswith("# Title") and "hand-written analysis" in written
    assert "PLACEHOLDER-TABLE" not in written and written.count(report.BEGIN) == 1


def test_command_line_reexecs_with_malloc_env_and_writes(tmp_path):
    out, data = tmp_path / "perf.md", tmp_path / "bench.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_") and k != "SYMLOSS_BENCH_CHILD"}
    argv = [sys.executable, "-m", "symloss.benchmarks", "bce", "--shape", "1,1,8,8", "--repeats", "1",
            "--warmup", "1", "--output", str(out), "--json", str(data)]
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    from symloss.benchmarks.env import is_glibc

    if is_glibc():
        assert "re-running in a subprocess" in done.stdout
        assert "glibc malloc variables set" in done.stdout
    rows = json.loads(data.read_text())["blocks"][0]["rows"]
    assert [r["loss"] for r in rows] == ["bce"] and rows[0]["generated"]["median_ms"] > 0
    assert "`bce`" in out.read_text()


def test_peak_memory_is_the_larger_pass_not_the_sum_of_both_allocators_peaks():
    """A call whose forward pass peaks in NumPy (8 MiB, freed) and whose backward pass peaks in Paddle's
    allocator (8 MiB): its peak is one of them, not both added (the allocators' peaks fall in
    different passes), and never below either."""
    import numpy as np
    import paddle

    from symloss.benchmarks.timing import Case, run_interleaved

    MIB = 2**20

    class Scratch(paddle.autograd.PyLayer):
        @staticmethod
        def forward(ctx, x):
            np.ones(2 * MIB, dtype=np.float32).sum()  # 8 MiB of NumPy scratch, gone when the pass ends
            return x.sum()

        @staticmethod
        def backward(ctx, grad):
            return paddle.full([2 * MIB], float(grad), dtype="float32")  # 8 MiB in Paddle's allocator

    logit = paddle.zeros([2 * MIB], dtype="float32")
    result = run_interleaved([Case("scratch", lambda x, y: Scratch.apply(x))], logit, logit, repeats=1, warmup=1)
    peak = result["scratch"].peak_bytes
    if peak is None:
        pytest.skip("this Paddle build has no host memory statistics")
    assert 8 * MIB <= peak < 14 * MIB
