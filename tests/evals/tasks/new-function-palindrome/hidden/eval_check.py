from text_utils import is_palindrome, reverse

assert is_palindrome("A man, a plan, a canal: Panama") is True
assert is_palindrome("racecar") is True
assert is_palindrome("abc") is False
assert reverse("abc") == "cba"
print("ok")
