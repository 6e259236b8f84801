"""Learn the host's name: uname, /proc/sys/kernel/{hostname,domainname}, /etc files.

Models host fingerprinting from inside a sandbox that shares the UTS namespace (judges
and CI runners whose hostname names the machine, the customer or the cluster node) and
changing the host's name (sethostname in a shared UTS namespace).  The box's name is
"sandbox" by every route, and it cannot be changed.
"""
import ctypes
import errno
import os
import socket

print("SAFE" if os.uname().nodename == "sandbox" else "HOLE", "uname nodename:", os.uname().nodename)
print("SAFE" if socket.gethostname() == "sandbox" else "HOLE", "gethostname:", socket.gethostname())
with open("/proc/sys/kernel/hostname") as f:
    name = f.read().strip()
print("SAFE" if name == "sandbox" else "HOLE", "/proc/sys/kernel/hostname:", name)
with open("/proc/sys/kernel/domainname") as f:
    domain = f.read().strip()
print("SAFE" if domain in ("(none)", "") else "HOLE", "/proc/sys/kernel/domainname:", domain)
for path in ("/etc/hostname", "/etc/hosts", "/etc/mailname", "/etc/machine-id", "/var/lib/dbus/machine-id"):
    print("HOLE present:" if os.path.exists(path) else "SAFE absent:", path)
libc = ctypes.CDLL(None, use_errno=True)
for label, number in (("sethostname", 170), ("setdomainname", 171)):
    ctypes.set_errno(0)
    ret = libc.syscall(number, None, 8)  # NULL name: EFAULT if it passes the filter
    err = ctypes.get_errno()
    print("SAFE" if err == errno.ENOSYS else "HOLE", label, errno.errorcode.get(err, err))
