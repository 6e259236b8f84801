"""Fill /tmp: a tmpfs capped at tmp_size (64 MiB here), so writing stops with ENOSPC.  Files of 8 MiB
stay under the file-size limit; sparse files and fallocate cannot go around the cap either."""
import errno
import os

CAP = 64 << 20
written = 0
chunk = b"x" * (1 << 20)
try:
    for n in range(64):
        with open(f"/tmp/fill-{n}", "wb", buffering=0) as f:
            for _ in range(8):
                written += f.write(chunk)
    print("HOLE wrote", written >> 20, "MiB to /tmp")
except OSError as e:
    print("SAFE" if e.errno == errno.ENOSPC and written <= CAP else "HOLE", "/tmp stopped after", written >> 20,
          "MiB:", e.strerror)
for n in range(64):
    try:
        os.unlink(f"/tmp/fill-{n}")
    except FileNotFoundError:
        pass
fd = os.open("/tmp/falloc", os.O_WRONLY | os.O_CREAT, 0o600)
try:
    os.posix_fallocate(fd, 0, 15 << 20)
    os.posix_fallocate(os.open("/tmp/falloc2", os.O_WRONLY | os.O_CREAT, 0o600), 0, 15 << 20)
    os.posix_fallocate(os.open("/tmp/falloc3", os.O_WRONLY | os.O_CREAT, 0o600), 0, 15 << 20)
    os.posix_fallocate(os.open("/tmp/falloc4", os.O_WRONLY | os.O_CREAT, 0o600), 0, 15 << 20)
    os.posix_fallocate(os.open("/tmp/falloc5", os.O_WRONLY | os.O_CREAT, 0o600), 0, 15 << 20)
    print("HOLE fallocated 75 MiB in /tmp")
except OSError as e:
    print("SAFE fallocate stopped:", e.strerror)
st = os.statvfs("/tmp")
print("SAFE /tmp size", st.f_blocks * st.f_frsize >> 20, "MiB" if st.f_blocks * st.f_frsize <= CAP else "HOLE /tmp is larger than the cap")
