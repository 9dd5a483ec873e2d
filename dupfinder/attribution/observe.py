"""The unit every evidence module returns: one named, discrete observation about a cluster."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Observation:
    """``feature`` = ``value``, the way the model's tables index it, and the same fact in words."""

    feature: str
    value: str
    words: str
