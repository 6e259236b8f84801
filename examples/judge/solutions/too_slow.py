# Adds by counting one at a time: instant for small numbers, far too slow for 10^12.
a, b = map(int, input().split())
total = b
i = 0
while i < a:
    total += 1
    i += 1
while i > a:
    total -= 1
    i -= 1
print(total)
