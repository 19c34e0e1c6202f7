from helpers import format_name


def banner(first, last):
    """Return the welcome banner for a user."""
    return f"Welcome, {format_name(first, last)}"


if __name__ == "__main__":
    print(banner("ann", "lee"))
