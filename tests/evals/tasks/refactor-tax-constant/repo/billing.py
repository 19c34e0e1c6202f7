def tax_of(price):
    """Return the tax on price."""
    return price * 0.2


def price_with_tax(price):
    """Return price plus tax."""
    return price + price * 0.2
