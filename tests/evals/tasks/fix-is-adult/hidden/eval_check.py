from people import is_adult, is_child

assert is_adult(18) is True
assert is_adult(30) is True
assert is_adult(17) is False
assert is_child(17) is True
assert is_child(18) is False
print("ok")
