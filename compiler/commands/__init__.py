"""The `symloss` commands (build, check, list, show, new, docs) and the parallel build behind them.
The top layer: may import every stage."""
