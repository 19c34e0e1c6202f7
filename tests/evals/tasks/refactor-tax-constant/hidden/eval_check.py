from pathlib import Path

import billing

assert billing.TAX_RATE == 0.2
assert billing.tax_of(100) == 20
assert Path("billing.py").read_text().count("0.2") == 1, "0.2 should appear only once"
billing.TAX_RATE = 0.1
assert round(billing.tax_of(100), 6) == 10, "tax_of does not use TAX_RATE"
assert round(billing.price_with_tax(100), 6) == 110, "price_with_tax does not use TAX_RATE"
print("ok")
