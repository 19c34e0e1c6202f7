from pathlib import Path

from limits import clamp

assert clamp(5, 0, 3) == 3
assert clamp(-1, 0, 3) == 0
assert clamp(2, 0, 3) == 2
assert "TODO" not in Path("limits.py").read_text(), "the TODO comment is still there"
print("ok")
