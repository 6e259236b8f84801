"""Binary search: at most 20 queries for 1..10^6."""
n, _ = map(int, input().split())
lo, hi = 1, n
while True:
    mid = (lo + hi) // 2
    print("?", mid, flush=True)
    answer = input()
    if answer == "=":
        print("!", mid, flush=True)
        break
    lo, hi = (lo, mid - 1) if answer == "<" else (mid + 1, hi)
