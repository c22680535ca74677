"""dunelab: Dune for today's kernels, and the VM lab that builds, installs and runs it."""

from pathlib import Path

__version__ = "0.1.0"

# The checkout this package runs from: recipes, labs, sources and scenarios live here.
PROJECT_ROOT = Path(__file__).resolve().parents[2]
