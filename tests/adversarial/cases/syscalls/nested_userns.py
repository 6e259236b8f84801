"""Nested namespaces: a user namespace inside the box gives capabilities over new namespaces
(the door to many kernel bugs: CVE-2022-0185, CVE-2023-32233 ...).  unshare and setns are
filtered; clone may not carry namespace flags; clone3 gets ENOSYS, never EPERM (glibc falls back).
The clone flags add CLONE_THREAD without CLONE_SIGHAND, so a clone that passed the filter
would fail with EINVAL and create nothing."""
import ctypes
import errno
import os

from probelib import call, filtered, libc  # bound next to the probe by the harness
CLONE_THREAD = 0x10000
NAMESPACE_FLAGS = {"CLONE_NEWNS": 0x20000, "CLONE_NEWCGROUP": 0x02000000, "CLONE_NEWUTS": 0x04000000,
                   "CLONE_NEWIPC": 0x08000000, "CLONE_NEWUSER": 0x10000000, "CLONE_NEWPID": 0x20000000,
                   "CLONE_NEWNET": 0x40000000}
for name, flag in NAMESPACE_FLAGS.items():
    filtered(f"unshare({name})", 272, flag)
    filtered(f"clone({name})", 56, flag | CLONE_THREAD, 0, 0, 0, 0)
    filtered(f"clone({name} with junk in the high bits)", 56, (0xFFFFFFFF << 32) | flag | CLONE_THREAD, 0, 0, 0, 0)
filtered("unshare(CLONE_NEWTIME)", 272, 0x80)
filtered("unshare(0) (no flags)", 272, 0)
filtered("setns(-1, 0)", 308, -1, 0)
ret, err = call(435, 0, 0)
print("SAFE" if (ret, err) == (-1, errno.ENOSYS) else "HOLE", "clone3(NULL, 0):", ret, errno.errorcode.get(err, err))
ret, err = call(435, 0, 88)
print("SAFE" if (ret, err) == (-1, errno.ENOSYS) else "HOLE", "clone3(NULL, 88):", ret, errno.errorcode.get(err, err))
ctypes.set_errno(0)
if libc.unshare(0x10000000) == 0:  # the C library's wrapper, as a program would call it
    print("HOLE unshare(CLONE_NEWUSER) through the C library succeeded")
else:
    print("SAFE unshare(CLONE_NEWUSER) through the C library:", os.strerror(ctypes.get_errno()))
pid = os.fork()  # plain fork still works through clone without namespace flags
if pid == 0:
    os._exit(7)
print("SAFE fork still works" if os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 7 else "HOLE fork broke")
uid_map = open("/proc/self/uid_map").read().split()
print("SAFE one uid mapped:" if len(uid_map) == 3 else "HOLE uid_map:", uid_map)
