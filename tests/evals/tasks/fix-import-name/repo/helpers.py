def format_full_name(first, last):
    """Return 'First Last' with capitalised names."""
    return f"{first.capitalize()} {last.capitalize()}"
