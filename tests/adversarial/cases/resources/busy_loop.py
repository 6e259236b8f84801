"""Spin on the CPU: --cpu-time 1 ends it with TLE (cpu_time), long before the wall time."""
print("SAFE spinning", flush=True)
while True:
    pass
