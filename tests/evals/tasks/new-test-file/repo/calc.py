def add(a, b):
    """Return a + b."""
    return a + b


def divide(a, b):
    """Return a / b; dividing by zero raises ZeroDivisionError."""
    return a / b
