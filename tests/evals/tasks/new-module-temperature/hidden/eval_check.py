from temperature import celsius_to_fahrenheit, fahrenheit_to_celsius

assert celsius_to_fahrenheit(100) == 212
assert celsius_to_fahrenheit(0) == 32
assert fahrenheit_to_celsius(212) == 100
assert abs(fahrenheit_to_celsius(celsius_to_fahrenheit(37.5)) - 37.5) < 1e-9
print("ok")
