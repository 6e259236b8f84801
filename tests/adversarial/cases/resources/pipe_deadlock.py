"""A program that deadlocks itself while its output pipes are busy: it writes 256 KiB to stderr and
to stdout (more than a pipe holds, so it relies on the supervisor draining both at once), then blocks
for ever writing into a pipe of its own that nobody reads.  The supervisor must keep draining and
still end it at the wall time (TLE)."""
import os

os.write(2, b"e" * (256 << 10))
os.write(1, b"o" * (256 << 10) + b"\nSAFE both streams drained; now blocking on a full pipe\n")
r, w = os.pipe()
while True:
    os.write(w, b"x" * 65536)
