"""Frontend: the spec language (DSL, claims, functions, primitives), loading and validating spec
files, and expanding a formula to concrete sizes. Imports nothing from the later stages."""
