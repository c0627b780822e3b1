"""Claim outcomes of earlier builds, reused while nothing they depend on has changed.

Checking every claim is most of `symloss build`'s time. An outcome depends only on the spec files
(a claim may refer to any registered loss), the compiler's and the runtime's source and the versions of Python,
SymPy, mpmath and NumPy; a digest of all of them names the stored outcomes of each spec, so any change to
one of them checks every claim again. Only builds whose claims all held are stored.
Folder: $SYMLOSS_CACHE_DIR, else $XDG_CACHE_HOME/symloss/claims, else ~/.cache/symloss/claims.
"""
from __future__ import annotations

import hashlib
import os
import pickle
import platform
import tempfile
from pathlib import Path

COMPILER = Path(__file__).resolve().parents[1]
RUNTIME = COMPILER.parent / "runtime"  # its NumPy distance maps are the oracle's too


def cache_dir() -> Path:
    given = os.environ.get("SYMLOSS_CACHE_DIR")
    if given:
        return Path(given)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "symloss" / "claims"


def inputs_digest(registry: dict) -> str | None:
    """A digest of everything a claim's outcome depends on, for this registry; None when a spec has no
    file to read (then nothing is reused)."""
    import mpmath
    import numpy
    import sympy

    versions = f"{platform.python_version()} sympy {sympy.__version__} mpmath {mpmath.__version__} numpy {numpy.__version__}"
    h = hashlib.sha256(versions.encode())
    for root in (COMPILER, RUNTIME):
        for path in sorted(root.rglob("*.py")):
            h.update(str(path.relative_to(root.parent)).encode() + b"\0" + path.read_bytes())
    for name in sorted(registry):
        path = getattr(registry[name], "path", None)
        if not path or not Path(path).is_file():
            return None
        h.update(name.encode() + b"\0" + Path(path).read_bytes())
    return h.hexdigest()


def _file(digest: str, name: str) -> Path:
    return cache_dir() / f"{hashlib.sha256(f'{digest} {name}'.encode()).hexdigest()[:32]}.pickle"


def load(digest: str, name: str):
    """The stored outcomes of spec `name` under `digest`, or None."""
    try:
        with open(_file(digest, name), "rb") as f:
            return pickle.load(f)
    except (OSError, EOFError, pickle.UnpicklingError, AttributeError, ImportError):
        return None


def store(digest: str, name: str, outcomes: list) -> None:
    """Keep `outcomes` if every claim held; a folder that cannot be written is skipped quietly."""
    if not all(o.ok for o in outcomes):
        return
    target = _file(digest, name)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile("wb", dir=target.parent, delete=False) as f:
            pickle.dump(outcomes, f)
        os.replace(f.name, target)
    except (OSError, pickle.PicklingError):
        pass
