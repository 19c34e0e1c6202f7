from ports import parse_port

assert parse_port("8080") == 8080
assert parse_port("1") == 1
for bad in ("0", "65536", "-5"):
    try:
        parse_port(bad)
    except ValueError:
        pass
    else:
        raise AssertionError(f"parse_port({bad!r}) did not raise ValueError")
print("ok")
