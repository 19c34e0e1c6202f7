def top_scores(scores, n=3):
    """Return the n highest scores, highest first."""
    return sorted(scores)[:n]


def average_score(scores):
    """Return the mean score."""
    return sum(scores) / len(scores)
