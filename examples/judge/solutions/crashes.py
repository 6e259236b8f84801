# Reads one number too many: the input has one line, so the second input() raises EOFError (exit 1).
a = int(input().split()[0])
b = int(input())
print(a + b)
