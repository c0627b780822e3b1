"""symloss.compiler: specs in, proved claims and Paddle code out.

Stages, each importing only the ones before it:
frontend (the spec language, loading, expansion) -> proof (evaluation, checker, oracle) ->
backend (IR, rules, lowering, printer, emission) -> commands (the `symloss` CLI).
Spec authors import from `symloss.compiler.dsl`.
"""
