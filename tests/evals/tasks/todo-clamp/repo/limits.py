def clamp(value, low, high):
    """Limit value to the range low..high."""
    # TODO: return value limited to the range low..high
    return value
