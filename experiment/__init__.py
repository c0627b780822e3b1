"""symloss.experiment: every loss trains the same small U-Net on synthetic data (`symloss experiment`)."""
