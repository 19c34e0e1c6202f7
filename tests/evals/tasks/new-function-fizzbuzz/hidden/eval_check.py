from game import fizzbuzz, roll_total

expected = ["1", "2", "Fizz", "4", "Buzz", "Fizz", "7", "8", "Fizz", "Buzz", "11", "Fizz"]
expected += ["13", "14", "FizzBuzz"]
assert fizzbuzz(15) == expected, fizzbuzz(15)
assert fizzbuzz(1) == ["1"]
assert roll_total([1, 2]) == 3
print("ok")
