"""The runtime every generated loss shares (symloss.runtime.core), and the NumPy distance maps the
compiler's oracle shares with it. The build copies it into generated/_runtime.py; never import
symloss.runtime from generated code (a generated module must work with paddle alone)."""
