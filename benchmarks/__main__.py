"""`python -m symloss.benchmarks`: the same as `symloss bench` (and what it re-executes itself as)."""
import sys

from .cli import main

sys.exit(main())
