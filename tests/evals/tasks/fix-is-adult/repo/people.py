ADULT_AGE = 18


def is_adult(age):
    """Return True when a person of this age is an adult."""
    return age > ADULT_AGE


def is_child(age):
    """Return True when a person of this age is a child."""
    return age < ADULT_AGE
