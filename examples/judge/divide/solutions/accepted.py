a, b = map(int, input().split())
print(f"{a / b:.6f}")  # 0.333333: right within 1e-6, not byte for byte
