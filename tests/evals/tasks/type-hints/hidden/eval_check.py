import typing

import shapes

FUNCTIONS = ((shapes.circle_area, ["radius"]), (shapes.rectangle_area, ["width", "height"]))
for func, params in FUNCTIONS:
    hints = typing.get_type_hints(func)
    for name in [*params, "return"]:
        assert hints.get(name) is float, f"{func.__name__}: {name} is not hinted as float"
assert shapes.rectangle_area(2, 3) == 6
assert abs(shapes.circle_area(1) - 3.14159) < 1e-4
print("ok")
