from greet import greet, shout

assert greet("Ann") == "Hello, Ann!", greet("Ann")
assert greet("Ann", greeting="Hi") == "Hi, Ann!", greet("Ann", greeting="Hi")
assert shout("hey") == "HEY!"
print("ok")
