"""dupfinder: find rows written twice by jobs that ran twice, say who wrote them, and clean up safely."""

from pathlib import Path as _Path

__version__ = "0.1.0"

__all__ = ["__version__"]

# From a source checkout sample_data/ sits beside the package (the wheel ships it as dupfinder.sample_data):
# let `python -m dupfinder demo` and `python -m pytest` import it from there too.
_here = _Path(__file__).resolve().parent
if not (_here / "sample_data").is_dir() and (_here.parent / "sample_data" / "__init__.py").is_file():
    __path__.append(str(_here.parent))  # noqa: F821 (a package's __path__)
