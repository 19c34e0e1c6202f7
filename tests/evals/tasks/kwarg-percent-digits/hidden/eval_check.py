from fmt import to_percent

assert to_percent(0.25) == "25%", to_percent(0.25)
assert to_percent(0.1234, digits=1) == "12.3%", to_percent(0.1234, digits=1)
assert to_percent(0.1234, digits=2) == "12.34%", to_percent(0.1234, digits=2)
print("ok")
