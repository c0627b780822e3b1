"""`symloss experiment`: argument definitions (importing this module must not import paddle)."""


def add_arguments(parser) -> None:
    """Add the experiment's options to its argparse sub-parser."""


def run(args) -> int:
    """Run the experiment; imports paddle lazily."""
    raise NotImplementedError("symloss experiment is not built yet")
