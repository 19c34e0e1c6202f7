def fib(n):
    """Return the n-th Fibonacci number."""
    raise NotImplementedError


def squares(n):
    """Return the squares of 0..n-1."""
    return [i * i for i in range(n)]
