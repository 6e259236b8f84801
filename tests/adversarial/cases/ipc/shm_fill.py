"""Fill /dev/shm: it is a size-capped tmpfs (memory the box could otherwise take outside its limits),
so writing stops with ENOSPC well before 64 MiB.  Files of 4 MiB each stay under the file-size limit."""
import errno

written = 0
chunk = b"\0" * (1 << 20)
try:
    for n in range(16):
        with open(f"/dev/shm/fill-{n}", "wb", buffering=0) as f:
            for _ in range(4):
                written += f.write(chunk)
    print("HOLE wrote", written >> 20, "MiB to /dev/shm")
except OSError as e:
    print("SAFE" if e.errno == errno.ENOSPC else "HOLE", "/dev/shm stopped after", written >> 20, "MiB:", e.strerror)
