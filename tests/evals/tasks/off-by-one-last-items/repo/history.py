def last_items(items, n):
    """Return the last n items of a list, oldest first."""
    return items[len(items) - n + 1 :]


def first_items(items, n):
    """Return the first n items of a list."""
    return items[:n]
