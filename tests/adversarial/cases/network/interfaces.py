"""Interfaces and neighbours the box can see: only `lo` (its own network namespace), no host
interface, no ARP entry, no host sockets in /proc/net/{tcp,udp,unix}."""
import os

with open("/proc/net/dev") as f:
    names = [line.split(":")[0].strip() for line in f.read().splitlines()[2:]]
print("SAFE interfaces:" if names == ["lo"] else "HOLE interfaces:", names)
with open("/proc/net/arp") as f:
    arp = f.read().splitlines()[1:]
print("SAFE no neighbours" if not arp else f"HOLE neighbours: {arp}")
port = int(os.environ["HOST_TCP_PORT"])
for table in ("tcp", "tcp6", "udp", "udp6"):
    with open(f"/proc/net/{table}") as f:
        rows = f.read().splitlines()[1:]
    seen = [r for r in rows if f":{port:04X} " in r]
    print("SAFE" if not seen else "HOLE", f"/proc/net/{table}: {len(rows)} sockets, host listener visible: {bool(seen)}")
with open("/proc/net/unix") as f:
    unix = f.read()
for name in (os.environ["HOST_ABSTRACT"], os.environ["HOST_UNIX_PATH"]):
    print("HOLE host socket visible:" if name in unix else "SAFE host socket not in /proc/net/unix:", name)
for path in ("/sys/class/net", "/proc/sys/net/ipv4/ip_forward"):
    if os.path.exists(path):
        try:
            with open(path, "w") as f:
                f.write("1")
            print("HOLE wrote", path)
        except OSError as e:
            print("SAFE", path, "read-only:", e.strerror)
    else:
        print("SAFE", path, "absent")
