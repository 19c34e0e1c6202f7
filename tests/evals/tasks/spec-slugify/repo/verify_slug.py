from textkit.slug import slugify

assert slugify("Hello, World!") == "hello-world", slugify("Hello, World!")
assert slugify("  Many   spaces  ") == "many-spaces", slugify("  Many   spaces  ")
print("verify ok")
