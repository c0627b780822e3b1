"""Compile a spec file in-process and hold its generated code against the oracle.

Shared by the spec fuzzer and the defect tests. Nothing is written into generated/: the module is
rendered in package form and executed as a member of `symloss.paddle`, so it reads the installed
runtime. A spec ends in exactly one of two outcomes: a SpecError (or a failed claim) at its file and
line, or a module that runs and matches the oracle (`compile_and_compare`).
"""
from __future__ import annotations

import itertools
import types
from dataclasses import dataclass

import numpy as np

from registry_names import REGISTRY
from symloss.compiler.backend.emit import render_loss
from symloss.compiler.frontend.errors import SpecError
from symloss.compiler.frontend.loader import load_file, validate
from symloss.compiler.proof.check import Checker
from symloss.compiler.proof.oracle import Options, Oracle

RTOL, ATOL = 1e-8, 1e-10  # tests/test_oracle.py's tolerance: float64 code against the 50-digit oracle
SPATIAL = [(4,), (3,), (2, 2), (1, 3), (2, 1, 2)]
_counter = itertools.count()


def load_spec(path) -> tuple:
    """(loss, registry): the spec at `path` validated against the bundled registry, as `load_registry` does."""
    loss = load_file(path)
    if loss.name in REGISTRY:
        from symloss.compiler.frontend.source import keyword_line

        raise SpecError(f"name {loss.name!r} is already registered by {REGISTRY[loss.name].path}: choose another "
                        f"name", path=loss.path, line=keyword_line(loss.path, loss.line, "name") or loss.line)
    registry = dict(REGISTRY) | {loss.name: loss}
    validate(loss, registry)
    return loss, registry


def failed_claims(loss, registry) -> list:
    return [o for o in Checker(registry).check(loss) if not o.ok]


def module_of(loss, registry, optimize: bool = True):
    """The generated module of `loss`, executed as a member of symloss.paddle (it imports `_runtime` from there)."""
    import symloss.paddle  # noqa: F401  (the package the module's relative import reads)

    source = render_loss(loss, registry, optimize=optimize)
    module = types.ModuleType(f"symloss.paddle._spec_{loss.name}_{next(_counter)}")
    module.__package__ = "symloss.paddle"
    exec(compile(source, f"<generated {loss.name}>", "exec"), module.__dict__)
    return module


def function_of(loss, registry, optimize: bool = True):
    return getattr(module_of(loss, registry, optimize), f"{loss.name}_loss")


def param_value(prm, rng):
    """A moderate value inside a parameter's domain (its ends only when closed and finite)."""
    if prm.kind == "choice":
        return prm.options[int(rng.integers(0, len(prm.options)))]
    if prm.kind == "class_weights":
        return None
    dom = prm.domain
    lo = float(dom.inf) if dom.inf.is_finite else None
    hi = float(dom.sup) if dom.sup.is_finite else None
    lo = -3.0 if lo is None and hi is None else (hi - 3.0 if lo is None else lo)
    hi = lo + 3.0 if hi is None else hi
    return float(rng.uniform(lo, hi))


@dataclass
class Case:
    logit: np.ndarray
    label: np.ndarray
    options: Options
    params: dict

    def describe(self) -> str:
        return (f"logit shape {self.logit.shape}, label {self.label.dtype} {self.label.shape}, {self.options}, "
                f"params {self.params}")


def random_case(loss, rng, classes: int) -> Case:
    """A batch at `classes` classes, drawn like tests/test_oracle.py's cases: class indices (some ignored) or
    soft targets, every activation, reduction and common keyword."""
    n = int(rng.integers(1, 3))
    spatial = SPATIAL[int(rng.integers(0, len(SPATIAL)))]
    shape = (n, classes) + spatial
    activations = ["auto", "sigmoid", "none"] + (["softmax"] if classes > 1 else [])
    activation = activations[int(rng.integers(0, len(activations)))]
    if activation == "none":
        logit = rng.uniform(0.02, 0.98, size=shape)
    else:
        logit = rng.normal(0.0, [0.5, 2.0, 5.0][int(rng.integers(0, 3))], size=shape)
    if rng.random() < 0.7:
        label = rng.integers(0, max(classes, 2), size=(n,) + spatial)
        label[rng.random(label.shape) < [0.0, 0.0, 0.3][int(rng.integers(0, 3))]] = 255
        ignore_index = [255, 255, None][int(rng.integers(0, 3))]
        if ignore_index is None:
            label = np.where(label == 255, 0, label)
        if rng.random() < 0.5:
            label = label[:, None]
    else:
        label, ignore_index = rng.uniform(0.0, 1.0, size=shape), 255
    options = Options(activation=activation, ignore_index=ignore_index, include_background=bool(rng.random() < 0.5),
                      batch=bool(rng.random() < 0.5), reduction=["mean", "sum", "none"][int(rng.integers(0, 3))])
    params = {prm.name: param_value(prm, rng) for prm in loss.params}
    return Case(logit, label, options, params)


def run_case(function, case: Case) -> tuple[np.ndarray, np.ndarray]:
    """(loss, d sum(loss) / d logit) of generated code in float64."""
    import paddle

    x = paddle.to_tensor(case.logit, dtype="float64", stop_gradient=False)
    out = function(x, paddle.to_tensor(case.label), **case.params, activation=case.options.activation,
                   ignore_index=case.options.ignore_index, include_background=case.options.include_background,
                   batch=case.options.batch, reduction=case.options.reduction)
    out.sum().backward()
    grad = x.grad.numpy() if x.grad is not None else np.zeros_like(case.logit)
    return out.numpy(), grad


def relative_error(got, want) -> float:
    """The worst error relative to the tolerance: <= 1 is within RTOL and ATOL."""
    got, want = np.asarray(got, dtype=float), np.asarray(want, dtype=float)
    with np.errstate(invalid="ignore"):
        excess = np.abs(got - want) / (ATOL + RTOL * np.abs(want))
    return float(np.nanmax(np.where(np.isnan(got), np.inf, excess), initial=0.0))


def compare(loss, registry, function, case: Case) -> str:
    """'' if the generated code matches the oracle on `case`, else what differs.

    Compared only where the spec itself is a float64 number (value and gradient finite at 50 digits); there
    the code must give no NaN and agree within tests/test_oracle.py's tolerance.
    """
    expected, expected_grad = Oracle(loss, registry)(case.logit, case.label, case.params, case.options)
    if not (np.all(np.isfinite(expected)) and np.all(np.isfinite(expected_grad))):
        return ""
    value, grad = run_case(function, case)
    if np.shape(value) != np.shape(expected):
        return f"shape {np.shape(value)} where the oracle has {np.shape(expected)}; {case.describe()}"
    errors = relative_error(value, expected), relative_error(grad, expected_grad)
    if max(errors) <= 1.0:
        return ""
    nan = np.isnan(value).any() or np.isnan(grad).any()
    return (f"{'NaN' if nan else 'mismatch'}: value {value.ravel()[:6]} vs oracle {np.ravel(expected)[:6]} "
            f"(error {errors[0]:.3g} x tolerance), gradient error {errors[1]:.3g} x tolerance; {case.describe()}")
