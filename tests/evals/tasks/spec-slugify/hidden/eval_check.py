from textkit.slug import slugify

assert slugify("Hello, World!") == "hello-world", slugify("Hello, World!")
assert slugify("  Many   spaces  ") == "many-spaces", slugify("  Many   spaces  ")
assert slugify("Already-slugged") == "already-slugged"
assert slugify("C3PO rocks!!") == "c3po-rocks"
print("ok")
