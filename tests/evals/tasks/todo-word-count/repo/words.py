def word_count(text):
    """Count how often each word occurs."""
    # TODO: return a dict mapping each lower-cased word of text to its count
    return {}
