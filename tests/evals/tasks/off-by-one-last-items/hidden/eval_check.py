from history import first_items, last_items

assert last_items([1, 2, 3, 4], 2) == [3, 4], last_items([1, 2, 3, 4], 2)
assert last_items([1, 2], 2) == [1, 2], last_items([1, 2], 2)
assert last_items([1, 2, 3], 1) == [3], last_items([1, 2, 3], 1)
assert first_items([1, 2, 3], 2) == [1, 2]
print("ok")
