def reverse(text):
    """Return text reversed."""
    return text[::-1]
