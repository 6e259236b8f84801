"""Linear search: one query per number, far more than allowed (it ends on the interactor's EOF)."""
n, _ = map(int, input().split())
for guess in range(1, n + 1):
    print("?", guess, flush=True)
    if input() == "=":
        print("!", guess, flush=True)
        break
