def count_up(n):
    """Return the list [1, 2, ..., n]."""
    return list(range(1, n))


def count_down(n):
    """Return the list [n, n - 1, ..., 1]."""
    return list(range(n, 0, -1))
