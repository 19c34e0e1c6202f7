def to_percent(fraction):
    """Format a fraction such as 0.25 as a percentage string: '25%'."""
    return f"{fraction * 100:.0f}%"
