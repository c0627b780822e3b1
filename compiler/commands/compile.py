"""compile_spec: one spec checked and compiled from Python (a notebook, a script), no file written.

    from symloss.compiler import compile_spec
    my = compile_spec("my_loss.py")          # or a Loss object built in the session
    loss = my(logit, label)                  # my.function; my.Layer is the paddle.nn.Layer

The code is the standalone module that `symloss build my_loss.py --out DIR` would write (runtime
inlined), executed in memory. Its source is registered with `linecache`, so tracebacks show it and
`paddle.jit.to_static` can read it as it reads any module's.
"""
from __future__ import annotations

import hashlib
import linecache
import os
import sys
import types
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from ..frontend.errors import SpecError
from ..frontend.language import Loss


@dataclass
class CompiledLoss:
    """A checked spec and its generated code. Calling it calls `function`."""

    name: str
    function: Callable  # <name>_loss(logit, label, *, params..., activation=..., reduction=...)
    Layer: type  # the paddle.nn.Layer class, e.g. MyDiceLoss
    source: str = field(repr=False)  # the module's code
    outcomes: list = field(repr=False)  # the checker's outcome for each claim (empty with check=False)
    module: types.ModuleType = field(repr=False)
    distance_maps: Callable | None = field(default=None, repr=False)  # <name>_distance_maps, if it has any

    def __call__(self, *args, **kwargs):
        return self.function(*args, **kwargs)

    def proof_table(self) -> str:
        """The claims and how each was shown, as `symloss check` prints them."""
        from .report import proof_table

        return proof_table(self.outcomes)


def compile_spec(spec, *, check: bool = True, specs=()) -> CompiledLoss:
    """Check a spec's claims and compile it into a loss function and Layer, in memory.

    `spec` is a spec file (str or path) or a `Loss`; `specs` are further spec files or folders its
    `ref(...)`s may name (the bundled specs are always known). With `check=False` the claims are not
    checked. A malformed spec, or a claim that does not hold, raises SpecError.
    """
    from ..backend.emit import class_name, function_name, render_loss
    from ..frontend.loader import load_registry, validate

    if isinstance(spec, Loss):
        loss = spec
        registry = load_registry(specs)
        known = registry.get(loss.name)
        if known is not None and not _same_file(known.path, loss.path):
            raise SpecError(f"name {loss.name!r} is already registered by {known.path}: choose another name",
                            path=loss.path, line=loss.line)
        registry[loss.name] = loss
        validate(loss, registry)
    elif isinstance(spec, (str, os.PathLike)):
        path = Path(spec)
        if path.is_dir():
            raise SpecError("compile_spec takes one spec file or Loss, not a folder: name the file", path=str(path))
        registry = load_registry([path, *specs])
        loss = next(l for l in registry.values() if _same_file(l.path, str(path)))
    else:
        raise SpecError(f"compile_spec got {type(spec).__name__}; expected a spec file path or a Loss")

    outcomes = []
    if check:
        from ..proof.check import Checker
        from .report import proof_table

        outcomes = Checker(registry).check(loss)
        failed = [o for o in outcomes if not o.ok]
        if failed:
            raise SpecError(f"{len(failed)} of {len(outcomes)} claims failed:\n{proof_table(failed)}",
                            path=loss.path, line=loss.line)
    source = render_loss(loss, registry, standalone=True)
    module = _execute(loss.name, source)
    maps = getattr(module, f"{loss.name}_distance_maps", None)
    return CompiledLoss(loss.name, getattr(module, function_name(loss)), getattr(module, class_name(loss)),
                        source, outcomes, module, maps)


def _same_file(a, b) -> bool:
    try:
        return Path(a).resolve() == Path(b).resolve()
    except (OSError, TypeError):
        return a == b


def _execute(name: str, source: str) -> types.ModuleType:
    """Run generated code as a module of its own, under a name and file name unique to its source."""
    digest = hashlib.sha256(source.encode()).hexdigest()[:12]
    module_name = f"symloss_compiled_{name}_{digest}"
    filename = f"<symloss compile_spec {name} {digest}>"
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    module = types.ModuleType(module_name)
    module.__file__ = filename
    sys.modules[module_name] = module  # classes and functions find their module (inspect, to_static)
    try:
        exec(compile(source, filename, "exec"), module.__dict__)
    except BaseException:
        sys.modules.pop(module_name, None)
        raise
    return module
