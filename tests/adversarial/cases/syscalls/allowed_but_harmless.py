"""Calls allowed by design, shown harmless: prctl (no capability to raise, no PR_SET_MM, seccomp
and no_new_privs stay on), raw and packet-ish AF_INET sockets (allowed family, but no CAP_NET_RAW),
mknodat of a device node (no CAP_MKNOD; /tmp is nodev anyway), setrlimit/prlimit of our own hard
limits (no CAP_SYS_RESOURCE), kill/tgkill of pids the box cannot see."""
import errno
import os

from probelib import call  # bound next to the probe by the harness
import resource
import socket
import stat

PR_CAPBSET_READ, PR_GET_NO_NEW_PRIVS, PR_GET_SECCOMP, PR_SET_NO_NEW_PRIVS = 23, 39, 21, 38
PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, PR_SET_MM, PR_SET_MM_EXE_FILE, PR_SET_SECCOMP = 47, 2, 35, 13, 22


def expect_refused(label, ret, err, accepted):
    ok = ret == -1 and err in accepted
    print("SAFE" if ok else "HOLE", label, "ret", ret, errno.errorcode.get(err, err))


caps = [c for c in range(64) if call(157, PR_CAPBSET_READ, c)[0] == 1]
print("SAFE empty capability bounding set" if not caps else f"HOLE bounding set holds {caps}")
status = dict(line.split(":", 1) for line in open("/proc/self/status"))
for key in ("CapInh", "CapPrm", "CapEff", "CapAmb"):
    value = int(status[key].strip(), 16)
    print("SAFE" if value == 0 else "HOLE", key, hex(value))
print("SAFE" if call(157, PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0)[0] == 1 else "HOLE", "no_new_privs is set")
print("SAFE" if call(157, PR_GET_SECCOMP, 0, 0, 0, 0)[0] == 2 else "HOLE", "seccomp filter mode is on")
expect_refused("prctl(PR_SET_NO_NEW_PRIVS, 0) (cannot be cleared)", *call(157, PR_SET_NO_NEW_PRIVS, 0, 0, 0, 0), {errno.EINVAL})
expect_refused("prctl(PR_CAP_AMBIENT_RAISE, CAP_SYS_ADMIN)", *call(157, PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, 21, 0, 0), {errno.EPERM})
expect_refused("prctl(PR_SET_MM, PR_SET_MM_EXE_FILE, -1)", *call(157, PR_SET_MM, PR_SET_MM_EXE_FILE, -1, 0, 0), {errno.EPERM, errno.EINVAL})
expect_refused("prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, NULL)", *call(157, PR_SET_SECCOMP, 2, 0, 0, 0), {errno.EFAULT, errno.EINVAL})

for label, args in (("AF_INET SOCK_RAW IPPROTO_RAW", (socket.AF_INET, socket.SOCK_RAW, 255)),
                    ("AF_INET SOCK_RAW IPPROTO_ICMP", (socket.AF_INET, socket.SOCK_RAW, 1)),
                    ("AF_INET6 SOCK_RAW IPPROTO_RAW", (socket.AF_INET6, socket.SOCK_RAW, 255)),
                    ("AF_INET SOCK_PACKET", (socket.AF_INET, 10, 0x0300)),
                    ("AF_INET ping socket", (socket.AF_INET, socket.SOCK_DGRAM, 1)),
                    ("AF_INET6 ping socket", (socket.AF_INET6, socket.SOCK_DGRAM, 58))):
    try:
        socket.socket(*args).close()
        print("HOLE", label, "created")
    except OSError as e:
        print("SAFE" if e.errno in (errno.EPERM, errno.EACCES, errno.ESOCKTNOSUPPORT, errno.EPROTONOSUPPORT) else "HOLE",
              label, e.strerror)

for label, mode, dev in (("/dev/null twin", stat.S_IFCHR | 0o666, os.makedev(1, 3)),
                         ("block device sda", stat.S_IFBLK | 0o666, os.makedev(8, 0)),
                         ("/dev/mem twin", stat.S_IFCHR | 0o666, os.makedev(1, 1))):
    path = f"/tmp/node-{dev}"
    try:
        os.mknod(path, mode, dev)
        try:
            with open(path, "rb") as f:
                f.read(1)
            print("HOLE", label, "created and opened")
        except OSError as e:
            print("SAFE", label, "created but unusable (nodev):", e.strerror)
        os.unlink(path)
    except OSError as e:
        print("SAFE", label, e.strerror)

for name in ("RLIMIT_CPU", "RLIMIT_AS", "RLIMIT_NPROC", "RLIMIT_NOFILE", "RLIMIT_FSIZE", "RLIMIT_CORE"):
    number = getattr(resource, name)
    soft, hard = resource.getrlimit(number)
    if hard == resource.RLIM_INFINITY:
        print("HOLE", name, "has no hard limit")
        continue
    try:
        resource.setrlimit(number, (hard + 1, hard + 1))
        print("HOLE", name, "hard limit raised from", hard)
    except (OSError, ValueError) as e:
        print("SAFE", name, "hard limit", hard, "stays:", e)
for pid in (0x7FFFFFFF, 4194303):  # pids no process of the box has
    try:
        os.kill(pid, 9)
        print("HOLE kill reached pid", pid)
    except OSError as e:
        print("SAFE kill", pid, e.strerror)
