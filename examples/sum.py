"""A judge's first problem: print the sum of the numbers on the one input line."""
print(sum(int(word) for word in input().split()))
