"""With --net none even the box's own loopback is down: nothing to listen on, nothing to reach."""
import socket

for host in ("127.0.0.1", "::1", "1.1.1.1"):
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(family)
    s.settimeout(2)
    try:
        s.connect((host, 9))
        print("HOLE connected to", host)
    except OSError as e:
        print("SAFE", host, e.strerror)
    finally:
        s.close()
with open("/proc/net/dev") as f:
    print("SAFE interfaces:", [line.split(":")[0].strip() for line in f.read().splitlines()[2:]])
