"""`crowdship simulate`: a city day through the real service, and its report."""

from marketplace.simulation.behaviour import City, Size, city
from marketplace.simulation.run import simulate

__all__ = ["City", "Size", "city", "simulate"]
