import math


class Point:
    """A point in the plane."""

    def __init__(self, x, y):
        self.x = x
        self.y = y

    def distance_to(self, other):
        """Return the distance to another point."""
        return math.hypot(self.x - other.x, self.y - other.y)
