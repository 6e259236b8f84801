"""Asks twice, then claims a number it never checked."""
n, _ = map(int, input().split())
for guess in (n // 2, n // 4):
    print("?", guess, flush=True)
    input()
print("!", 42, flush=True)
