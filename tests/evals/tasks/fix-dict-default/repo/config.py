DEFAULTS = {"color": "blue", "size": "medium"}


def setting(options, key):
    """Return options[key], or the default for key when options lacks it."""
    return options[key]
