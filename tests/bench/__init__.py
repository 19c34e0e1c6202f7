"""Side-by-side benchmarks of what the server adds on top of the model (issue 7).

Run from the repository root with ``python -m tests.bench`` (see README.md here); they are not
part of the pytest run.
"""
