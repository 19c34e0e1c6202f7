from pathlib import Path

import prices
import report

items = [("pen", 1.5, 2), ("pad", 2.0, 1)]
assert prices.order_total(items) == 5.0
assert not hasattr(prices, "calc_total"), "calc_total still exists"
assert report.summary(items) == "2 items, total 5.00", report.summary(items)
for name in ("prices.py", "report.py"):
    assert "calc_total" not in Path(name).read_text(), f"{name} still says calc_total"
print("ok")
