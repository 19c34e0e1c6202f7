import math


def circle_area(radius):
    """Return the area of a circle."""
    return math.pi * radius**2


def rectangle_area(width, height):
    """Return the area of a rectangle."""
    return width * height
