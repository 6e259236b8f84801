"""Enumerate the host's network: interfaces, addresses, routes, neighbours, sockets.

Models reconnaissance from a sandbox sharing the host's network namespace (Docker
--net=host; judges that forgot CLONE_NEWNET): /proc/net/* lists the host's interfaces,
its ARP neighbours, its routes, and every listening socket (the host's services, an
ssh-agent's unix socket).  The box has only "lo"; the host's listeners the harness planted
(TCP port, abstract and path unix sockets) must not appear in the box's /proc/net tables;
netlink and packet sockets are filtered.
"""
import ctypes
import errno
import os
import socket

with open("/proc/net/dev") as f:
    names = sorted(line.split(":", 1)[0].strip() for line in f.readlines()[2:])
print("SAFE" if names == ["lo"] else "HOLE", "interfaces in /proc/net/dev:", names)
for path in ("/proc/net/route", "/proc/net/ipv6_route", "/proc/net/arp"):
    try:
        with open(path) as f:
            rows = [line for line in f.readlines()[1:] if line.strip() and " lo" not in line and not line.endswith("lo\n")]
        print(f"HOLE host entries in {path}: {rows[:3]}" if rows else f"SAFE {path} holds nothing of the host")
    except OSError as e:
        print("SAFE", path, e.strerror)
try:
    with open("/proc/net/if_inet6") as f:
        devices = {line.split()[-1] for line in f}
    print("SAFE" if devices <= {"lo"} else "HOLE", "IPv6 addresses only on lo:", sorted(devices))
except OSError as e:
    print("SAFE /proc/net/if_inet6", e.strerror)
port = int(os.environ["HOST_TCP_PORT"])
for path in ("/proc/net/tcp", "/proc/net/tcp6"):
    try:
        with open(path) as f:
            ports = {int(line.split()[1].rsplit(":", 1)[1], 16) for line in f.readlines()[1:]}
        print("HOLE" if port in ports else "SAFE", f"the host's TCP listener (port {port}) in {path}:", port in ports)
    except OSError as e:
        print("SAFE", path, e.strerror)
with open("/proc/net/unix") as f:
    table = f.read()
for label, name in (("abstract", "@" + os.environ["HOST_ABSTRACT"]), ("path", os.environ["HOST_UNIX_PATH"])):
    print("HOLE" if name in table else "SAFE", f"the host's {label} unix socket is not in /proc/net/unix")
try:
    print("HOLE if_nameindex:", socket.if_nameindex())
except OSError as e:
    print("SAFE if_nameindex (netlink/ioctl):", e.strerror or e)
libc = ctypes.CDLL(None, use_errno=True)
for label, family in (("AF_NETLINK", 16), ("AF_PACKET", 17)):
    ctypes.set_errno(0)
    ret = libc.syscall(41, family, 0x7FFF, 0)  # socket(family, bad type, 0): EINVAL if it passes the filter
    err = ctypes.get_errno()
    print("SAFE" if ret == -1 and err == errno.ENOSYS else "HOLE", "socket", label, errno.errorcode.get(err, err))
ctypes.set_errno(0)
ret = libc.syscall(16, 0x7FFF, ctypes.c_ulong(0x8912), None)  # ioctl SIOCGIFCONF on a bad fd
err = ctypes.get_errno()
print("SAFE" if err == errno.ENOSYS else "HOLE", "ioctl SIOCGIFCONF", errno.errorcode.get(err, err))
print("HOLE /sys/class/net is visible" if os.path.exists("/sys/class/net") else "SAFE /sys/class/net is absent")
