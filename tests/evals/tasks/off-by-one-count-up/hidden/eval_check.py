from counting import count_down, count_up

assert count_up(3) == [1, 2, 3], count_up(3)
assert count_up(1) == [1], count_up(1)
assert count_up(0) == [], count_up(0)
assert count_down(3) == [3, 2, 1]
print("ok")
