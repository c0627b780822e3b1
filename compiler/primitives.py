"""Primitives that are not closed-form algebra (distance maps, sort-based extensions).

Each primitive is a field indexed [c, i] whose values are computed from other fields without a
gradient; it carries a NumPy reference for the oracle and a runtime helper for the emitter.
"""
from __future__ import annotations

PRIMITIVE_FIELDS: dict = {}
