from sequences import fib, squares

assert [fib(i) for i in range(10)] == [0, 1, 1, 2, 3, 5, 8, 13, 21, 34]
assert fib(30) == 832040
assert squares(3) == [0, 1, 4]
print("ok")
