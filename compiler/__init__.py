"""symloss.compiler: specs in, proved claims and Paddle code out.

Stages, each importing only the ones before it:
frontend (the spec language, loading, expansion) -> proof (evaluation, checker, oracle) ->
backend (IR, rules, lowering, printer, emission) -> commands (the `symloss` CLI, `compile_spec`).
Spec authors import from `symloss.compiler.dsl`; `from symloss.compiler import compile_spec` compiles
a spec from Python. Importing this package loads nothing else (SymPy comes with the first use).
"""

__all__ = ["compile_spec"]


def __getattr__(name):
    if name == "compile_spec":
        from .commands.compile import compile_spec

        return compile_spec
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
