def roll_total(dice):
    """Return the sum of a list of dice values."""
    return sum(dice)
