from config import setting

assert setting({}, "color") == "blue"
assert setting({}, "size") == "medium"
assert setting({"color": "red"}, "color") == "red"
print("ok")
