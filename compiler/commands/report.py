"""Plain-text tables for the terminal: the proof report and the loss list."""
from __future__ import annotations

import textwrap

CLAIM_WIDTH = 84


def table(rows: list[list[str]], header: list[str]) -> str:
    widths = [max(len(r[k]) for r in rows + [header]) for k in range(len(header))]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    lines = [fmt.format(*header).rstrip(), fmt.format(*("-" * w for w in widths)).rstrip()]
    lines += [fmt.format(*r).rstrip() for r in rows]
    return "\n".join(lines)


def proof_table(outcomes) -> str:
    """One row per claim; a refutation's counterexample on the lines below it."""
    lines = []
    header = ["loss", "claim", "result", "method", "seconds"]
    rows, details = [], []
    for o in outcomes:
        claim = o.claim if len(o.claim) <= CLAIM_WIDTH else o.claim[: CLAIM_WIDTH - 3] + "..."
        rows.append([o.loss, claim, o.verdict, o.method, f"{o.seconds:.3f}"])
        extra = []
        if o.result == "refuted" and o.detail:
            extra.append(f"counterexample: {o.detail}")
        elif o.result == "unknown" and o.detail:
            extra.append(o.detail)
        if o.note:
            extra.append(f"note: {o.note}")
        if not o.ok:
            extra.append(f"{o.where or o.loss}: {o.advice}")
        details.append(extra)
    text = table(rows, header).splitlines()
    lines += text[:2]
    for row_text, extra in zip(text[2:], details):
        lines.append(row_text)
        for item in extra:
            lines += textwrap.wrap(item, width=110, initial_indent="      ", subsequent_indent="        ")
    return "\n".join(lines)


def failures(outcomes) -> str:
    """One line per failed claim: its spec file and line, the claim, and what to change."""
    return "\n".join(f"{o.where or o.loss}: claim {o.claim!r} {o.verdict}: {o.advice}" for o in outcomes if not o.ok)


def summary(outcomes, cpu_seconds: float, wall_seconds: float) -> str:
    """The claim counts, and the time they took: CPU seconds summed over the worker processes (more
    than the wall time when several cores check at once)."""
    proved = sum(o.result == "proved" and o.ok for o in outcomes)
    held = sum(o.result == "holds" and o.ok for o in outcomes)
    errata = sum(o.expect == "refuted" and o.ok for o in outcomes)
    failed = sum(not o.ok for o in outcomes)
    return (f"{len(outcomes)} claims: {proved} proved, {held} held numerically, "
            f"{errata} errata refuted as expected, {failed} failed "
            f"({cpu_seconds:.1f} CPU seconds, {wall_seconds:.1f} s wall time)")
