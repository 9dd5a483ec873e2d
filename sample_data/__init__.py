"""Seeded sample data shared by the demo and the tests.

``incidents`` re-creates five double-run incidents with decoys and returns the ground truth;
``labelled`` generates varied tables of every mechanism for scoring attribution.
"""

from .incidents import DEMO_TABLES, GroundTruth, build_demo_database, demo_specs

__all__ = ["DEMO_TABLES", "GroundTruth", "build_demo_database", "demo_specs"]
