"""Walk out of the box through /proc/<pid>/root, /proc/<pid>/cwd and /proc/<pid>/fd.

Models the /proc magic-link escapes: a process whose root or cwd is outside the
sandbox's root (the init before pivot_root, a helper that kept the host's root)
exposes the host via /proc/<pid>/root (CVE-2016-9962 runc exec, CVE-2019-5736's
/proc/<pid>/exe cousin), and "shocker" (open_by_handle_at, the 2014 Docker escape) opens
host inodes by handle.  Here the init (pid 1) must refuse ptrace-level access, and
self's links must resolve inside the box.
"""
import ctypes
import errno
import os

box_root = os.stat("/")
for link in ("/proc/1/root", "/proc/1/cwd", "/proc/1/map_files", "/proc/1/environ", "/proc/1/mem", "/proc/1/exe"):
    try:
        if os.path.isdir(link):
            os.listdir(link)
        else:
            os.close(os.open(link, os.O_RDONLY))
        print("HOLE the init's", link, "is accessible")
    except OSError as e:
        print("SAFE", link, e.strerror)
# The fd directory of the init may be listed (its mode is the owner's, and the owner is uid 1000 too),
# but every link in it needs ptrace access, which a process without capabilities lacks.
for n in sorted(os.listdir("/proc/1/fd"), key=int) if os.access("/proc/1/fd", os.R_OK) else []:
    for label, action in (("readlink", os.readlink), ("open", lambda p: os.close(os.open(p, os.O_RDONLY))),
                          ("chdir", os.chdir)):
        try:
            result = action(f"/proc/1/fd/{n}")
            print("HOLE", label, f"/proc/1/fd/{n}", result or "")
        except OSError as e:
            print("SAFE", label, f"/proc/1/fd/{n}", e.strerror)
os.chdir("/work")
for link in ("/proc/self/root", "/proc/thread-self/root", f"/proc/{os.getpid()}/root", "/proc/self/root/..",
             "/proc/self/root/../../..", "/proc/self/cwd/../../..", "/proc/self/root/proc/self/root/proc/1/root/.."):
    try:
        st = os.stat(link)
        same = (st.st_dev, st.st_ino) == (box_root.st_dev, box_root.st_ino)
        print("SAFE" if same else "HOLE", link, "is the box's root" if same else "is not the box's root")
    except OSError as e:
        print("SAFE", link, e.strerror)
print("SAFE" if os.readlink("/proc/self/root") == "/" else "HOLE", "/proc/self/root ->", os.readlink("/proc/self/root"))
print("SAFE" if os.readlink("/proc/self/cwd") == "/work" else "HOLE", "/proc/self/cwd ->", os.readlink("/proc/self/cwd"))
for entry in sorted(os.listdir("/proc/self/root")):
    if entry in ("oldroot", "newroot", "home", "root", "var", "boot", "sys", "run", "mnt", "srv", "opt"):
        print("HOLE host directory visible under /proc/self/root:", entry)
libc = ctypes.CDLL(None, use_errno=True)
for name, number, args in (("name_to_handle_at", 303, (-100, b"/", None, None, 0)),
                           ("open_by_handle_at", 304, (-1, None, 0))):
    ctypes.set_errno(0)
    ret = libc.syscall(number, *args)
    err = ctypes.get_errno()
    print("SAFE" if err == errno.ENOSYS else "HOLE", name, errno.errorcode.get(err, err))
