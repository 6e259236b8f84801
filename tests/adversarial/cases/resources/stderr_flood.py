"""Flood stderr (and stdout a little) from several processes under --output 1M: the cap covers both
streams and every process (OLE)."""
import os

for _ in range(3):
    if os.fork() == 0:
        break
print("SAFE flooding stderr", flush=True)
while True:
    os.write(2, b"e" * 65536)
