def greet(name):
    """Return a greeting for name."""
    return f"Hello, {name}!"


def shout(text):
    """Return text in capitals with an exclamation mark."""
    return text.upper() + "!"
