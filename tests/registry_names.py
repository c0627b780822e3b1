"""The bundled loss names, read once at collection time so tests can be parametrised by them."""
from symloss.compiler.frontend.loader import load_registry

REGISTRY = load_registry()
NAMES = sorted(REGISTRY)
