from emails import domain_of, normalize_email

assert normalize_email("  Ann@Example.com ") == "ann@example.com"
assert normalize_email("bob@x.org") == "bob@x.org"
assert domain_of("bob@x.org") == "x.org"
print("ok")
