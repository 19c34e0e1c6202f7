import helpers
import main

assert main.banner("ann", "lee") == "Welcome, Ann Lee", main.banner("ann", "lee")
assert helpers.format_full_name("bo", "li") == "Bo Li"
print("ok")
