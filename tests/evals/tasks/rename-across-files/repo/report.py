from prices import calc_total


def summary(items):
    """Return a one-line summary of an order."""
    return f"{len(items)} items, total {calc_total(items):.2f}"
