"""Shared fixtures and the Hypothesis profiles: `ci` (default, quick) and `deep` (local, thorough).

Select with SYMLOSS_PROFILE=deep.
"""
import os
import tempfile

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci", max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True
)
settings.register_profile("deep", max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("SYMLOSS_PROFILE", "ci"))
# Builds in the tests keep their claim outcomes to themselves (and to this session).
os.environ.setdefault("SYMLOSS_CACHE_DIR", tempfile.mkdtemp(prefix="symloss-claims-"))


@pytest.fixture(scope="session")
def registry():
    from symloss.compiler.frontend.loader import load_registry

    return load_registry()
