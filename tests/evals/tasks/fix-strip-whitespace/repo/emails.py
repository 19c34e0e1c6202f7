def normalize_email(email):
    """Return email lower-cased and without surrounding whitespace."""
    return email.lower()


def domain_of(email):
    """Return the part of an email address after the @."""
    return email.split("@", 1)[1]
