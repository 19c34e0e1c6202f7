from scores import average_score, top_scores

assert top_scores([5, 1, 9, 7, 3]) == [9, 7, 5], top_scores([5, 1, 9, 7, 3])
assert top_scores([2, 8], n=1) == [8], top_scores([2, 8], n=1)
assert average_score([2, 4]) == 3
print("ok")
