"""dupfinder: find rows written twice by jobs that ran twice, say who wrote them, and clean up safely."""

__version__ = "0.1.0"

__all__ = ["__version__"]
