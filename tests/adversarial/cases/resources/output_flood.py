"""Flood stdout under --output 1M: the supervisor cuts it at the cap and ends the box (OLE)."""
import os

line = b"SAFE flooding\n" * 4096
while True:
    os.write(1, line)
