"""Fill /work, the program's private writable working directory: a tmpfs capped at tmp_size too."""
import errno
import os

CAP = 64 << 20
os.chdir("/work")
written = 0
chunk = b"x" * (1 << 20)
try:
    for n in range(64):
        with open(f"fill-{n}", "wb", buffering=0) as f:
            for _ in range(8):
                written += f.write(chunk)
    print("HOLE wrote", written >> 20, "MiB to /work")
except OSError as e:
    print("SAFE" if e.errno == errno.ENOSPC and written <= CAP else "HOLE", "/work stopped after", written >> 20,
          "MiB:", e.strerror)
