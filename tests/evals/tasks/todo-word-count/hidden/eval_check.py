from pathlib import Path

from words import word_count

assert word_count("a b A") == {"a": 2, "b": 1}, word_count("a b A")
assert word_count("") == {}
assert word_count("Red red RED blue") == {"red": 3, "blue": 1}
assert "TODO" not in Path("words.py").read_text(), "the TODO comment is still there"
print("ok")
