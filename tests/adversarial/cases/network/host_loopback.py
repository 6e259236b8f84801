"""Reach services on the host's loopback: TCP, an abstract unix socket, a filesystem socket."""
import os
import socket

attempts = [
    (socket.AF_INET, ("127.0.0.1", int(os.environ["HOST_TCP_PORT"]))),
    (socket.AF_UNIX, "\0" + os.environ["HOST_ABSTRACT"]),
    (socket.AF_UNIX, os.environ["HOST_UNIX_PATH"]),
    (socket.AF_INET, ("10.0.2.2", 80)),
]
for family, address in attempts:
    s = socket.socket(family)
    s.settimeout(2)
    try:
        s.connect(address)
        print("HOLE connected to", repr(address))
    except OSError as e:
        print("SAFE", repr(address), e.strerror or e)
    finally:
        s.close()
