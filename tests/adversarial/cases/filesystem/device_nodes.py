"""Create or reach a device node: the host's disk, memory, kernel log, tun, kvm, fuse.

Models container escapes by device: mknod of the host's block device then debugfs on it
(Docker without a device cgroup/nodev), /dev/mem and /dev/kmem (kernel memory),
/dev/kmsg (forging or reading the kernel log), /dev/fuse, /dev/net/tun, /dev/kvm and
/dev/loop-control as kernel attack surface.  mknod of a device must fail (a user namespace
has no CAP_MKNOD; mknod(2) itself is filtered); only the five harmless character devices
exist, and they are the real ones (major 1).
"""
import ctypes
import errno
import os
import stat

EXPECTED = {"null": (1, 3), "zero": (1, 5), "full": (1, 7), "random": (1, 8), "urandom": (1, 9)}
for name, (major, minor) in EXPECTED.items():
    st = os.stat(f"/dev/{name}")
    ok = stat.S_ISCHR(st.st_mode) and (os.major(st.st_rdev), os.minor(st.st_rdev)) == (major, minor)
    print("SAFE" if ok else "HOLE", f"/dev/{name} is the char device {major}:{minor}" if ok else f"/dev/{name} is not")
others = []
for name in os.listdir("/dev"):
    st = os.lstat(f"/dev/{name}")
    if (stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode)) and name not in EXPECTED:
        others.append(name)
print(f"HOLE other device nodes: {others}" if others else "SAFE no other device node in /dev")
for path in ("/dev/mem", "/dev/kmem", "/dev/port", "/dev/kmsg", "/dev/sda", "/dev/vda", "/dev/nvme0n1", "/dev/fuse",
             "/dev/net/tun", "/dev/kvm", "/dev/loop0", "/dev/loop-control", "/dev/mapper/control", "/dev/dri",
             "/dev/snd", "/dev/input", "/dev/hidraw0", "/dev/watchdog", "/dev/cpu/0/msr", "/dev/bpf", "/dev/userfaultfd"):
    print("HOLE present:" if os.path.lexists(path) else "SAFE absent:", path)
devices = {"char 1:1 (mem)": (stat.S_IFCHR, 1, 1), "char 1:11 (kmsg)": (stat.S_IFCHR, 1, 11),
           "block 8:0 (sda)": (stat.S_IFBLK, 8, 0), "block 254:0 (vda)": (stat.S_IFBLK, 254, 0),
           "char 10:229 (fuse)": (stat.S_IFCHR, 10, 229)}
for directory in ("/tmp", "/work", "/dev/shm", "/dev"):
    for label, (kind, major, minor) in devices.items():
        path = f"{directory}/sbx-node"
        try:
            os.mknod(path, kind | 0o666, os.makedev(major, minor))
            print("HOLE mknod", label, "in", directory)
            os.unlink(path)
        except OSError as e:
            print("SAFE mknod", label, "in", directory, e.strerror)
libc = ctypes.CDLL(None, use_errno=True)
ctypes.set_errno(0)
ret = libc.syscall(133, None, 0, 0)  # mknod(NULL, ...): EFAULT if it passes the filter
err = ctypes.get_errno()
print("SAFE" if err == errno.ENOSYS else "HOLE", "mknod(2):", errno.errorcode.get(err, err))
