"""The literal translation of each spec: emitted with `optimize=False` (no rewrites, no shared
statistics) and loaded as a submodule of `symloss.paddle`, so it runs on the same `_runtime` as
the generated loss and the difference between the two is what the compiler's passes buy."""
from __future__ import annotations

import types


def identical_to_generated(name: str, source: str) -> bool:
    """Whether symloss.paddle's module for `name` is this literal source, character for character
    (no rewrite applied: a ratio near 1 is then expected, and only noise)."""
    import importlib
    import inspect

    try:
        return inspect.getsource(importlib.import_module(f"symloss.paddle.{name}")) == source
    except (ImportError, OSError, TypeError):
        return False


def load_literals(names) -> tuple[dict, dict]:
    """({name: literal function}, {name: why there is none})."""
    import symloss.paddle  # noqa: F401  (the package the literal modules import `_runtime` from)

    functions, missing = {}, {}
    try:
        from symloss.compiler.backend.emit import function_name, render_loss
        from symloss.compiler.frontend.loader import load_registry

        registry = load_registry()
    except Exception as err:
        return {}, {name: f"compiler failed: {type(err).__name__}: {err}"[:160] for name in names}
    for name in names:
        if name not in registry:
            missing[name] = "no spec"
            continue
        try:
            source = render_loss(registry[name], registry, optimize=False)
            module = types.ModuleType(f"symloss.paddle._literal_{name}")
            module.__package__ = "symloss.paddle"
            exec(compile(source, f"<literal {name}>", "exec"), module.__dict__)
            functions[name] = getattr(module, function_name(registry[name]))
            functions[name].identical = identical_to_generated(name, source)
        except Exception as err:
            missing[name] = f"{type(err).__name__}: {err}"[:160]
    return functions, missing
