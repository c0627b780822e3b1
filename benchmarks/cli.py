"""`symloss bench`: argument definitions (importing this module must not import paddle)."""


def add_arguments(parser) -> None:
    """Add the benchmark's options to its argparse sub-parser."""


def run(args) -> int:
    """Run the benchmark; imports paddle lazily."""
    raise NotImplementedError("symloss bench is not built yet")
