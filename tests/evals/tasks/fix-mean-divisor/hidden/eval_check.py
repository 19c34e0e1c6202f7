from stats import mean, spread

assert mean([2, 4, 6]) == 4.0, mean([2, 4, 6])
assert mean([5]) == 5.0, mean([5])
assert mean([1, 2]) == 1.5, mean([1, 2])
assert spread([1, 5, 3]) == 4
print("ok")
