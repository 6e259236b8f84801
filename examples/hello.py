"""A first program for the sandbox: prints where it runs and what it can see."""
import os
import socket

print("hello from the sandbox")
print(f"  uid={os.getuid()} pid={os.getpid()} hostname={socket.gethostname()}")
with open("/proc/net/dev") as f:
    interfaces = [line.split(":")[0].strip() for line in f.readlines()[2:]]
print(f"  network interfaces: {', '.join(interfaces)}")
try:
    open("/usr/evil", "w")
except OSError as e:
    print(f"  writing /usr: {e.strerror}")
