"""Allocate and touch memory without end under --memory 64M.  Without cgroups RLIMIT_AS makes the
allocation fail (MemoryError: RE); with cgroups memory.max makes the kernel OOM-kill it (MLE).
Either way the run ends cleanly, well before the host notices."""
chunks = []
print("SAFE allocating under --memory 64M", flush=True)
while True:
    chunks.append(bytearray(8 << 20))  # bytearray zero-fills: the pages are touched
    if len(chunks) * 8 > 1024:
        print("HOLE allocated more than 1 GiB")
        break
