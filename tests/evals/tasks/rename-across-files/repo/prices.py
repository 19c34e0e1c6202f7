def calc_total(items):
    """Return the total price of (name, price, quantity) items."""
    return sum(price * quantity for _, price, quantity in items)
