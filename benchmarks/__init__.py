"""symloss.benchmarks: forward + backward timings of generated losses against baselines (`symloss bench`)."""
