"""The only place that touches ctypes, python-prctl and raw system calls.

Side: child (everything here runs between fork and execve) except where noted.
Each wrapper raises OSError with the real errno, so callers can report the
kernel's own reason.  Man pages: unshare(2), mount(2), pivot_root(2),
mount_setattr(2), open_tree(2), move_mount(2), openat2(2), umount(2),
prctl(2), netdevice(7); the target's last mile, from clone to execve, is C
(_lastmile.c, through spawn_confined).

Python 3.11 has no os.unshare and no mount API, so these go through libc.
"""
from __future__ import annotations

import ctypes
import fcntl
import os
import signal
import socket
import struct
from types import ModuleType

_libc = ctypes.CDLL(None, use_errno=True)
# The same C library, called with the GIL held: clone() must not run with the GIL released.
_libc_holding_gil = ctypes.PyDLL(None, use_errno=True)

# <sched.h>
CLONE_NEWNS = 0x00020000
CLONE_NEWCGROUP = 0x02000000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000

# <sys/mount.h>
MS_RDONLY = 0x1
MS_NOSUID = 0x2
MS_NODEV = 0x4
MS_NOEXEC = 0x8
MS_REMOUNT = 0x20
MS_BIND = 0x1000
MS_REC = 0x4000
MS_PRIVATE = 0x40000
MNT_DETACH = 0x2

# <linux/mount.h>
MOUNT_ATTR_RDONLY = 0x1
MOUNT_ATTR_NOSUID = 0x2
MOUNT_ATTR_NODEV = 0x4
MOUNT_ATTR_NOEXEC = 0x8
AT_FDCWD = -100
AT_EMPTY_PATH = 0x1000
AT_RECURSIVE = 0x8000
OPEN_TREE_CLONE = 0x1
MOVE_MOUNT_F_EMPTY_PATH = 0x4
MOVE_MOUNT_T_EMPTY_PATH = 0x40
_SYS_OPEN_TREE = 428  # x86_64 and every other architecture since 5.2
_SYS_MOVE_MOUNT = 429
_SYS_OPENAT2 = 437  # since 5.6
_SYS_MOUNT_SETATTR = 442  # since 5.12
_SYS_PIVOT_ROOT = 155  # x86_64

# <linux/openat2.h>
RESOLVE_NO_XDEV = 0x01
RESOLVE_NO_MAGICLINKS = 0x02
RESOLVE_NO_SYMLINKS = 0x04
RESOLVE_BENEATH = 0x08

# <linux/sockios.h>, <net/if.h>
_SIOCGIFFLAGS = 0x8913
_SIOCSIFFLAGS = 0x8914
_IFF_UP = 0x1


def _check(result: int, what: str) -> int:
    if result == -1:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")
    return result


def _path(path: str | None) -> bytes | None:
    return None if path is None else os.fsencode(path)


_SYS_CLONE = 56  # x86_64: clone(flags, stack, parent_tid, child_tid, tls)


def fork_into_namespaces(flags: int) -> int:
    """os.fork(), but the child starts in the new namespaces `flags` names (clone(2)).

    Python has no clone(); this does what os.fork() does around the call (CPython's
    before/after-fork hooks, with the GIL held throughout), so the child is a normal
    Python process.  A child in a new pid namespace is its PID 1, which unshare()
    cannot give the caller itself.  Only for a single-threaded caller (the kernel
    refuses CLONE_NEWUSER from a threaded one).  Returns 0 in the child.
    """
    ctypes.pythonapi.PyOS_BeforeFork()
    pid = _libc_holding_gil.syscall(ctypes.c_long(_SYS_CLONE), ctypes.c_ulong(flags | signal.SIGCHLD),
                                    None, None, None, None)
    if pid == 0:
        ctypes.pythonapi.PyOS_AfterFork_Child()
        return 0
    err = ctypes.get_errno()
    ctypes.pythonapi.PyOS_AfterFork_Parent()
    if pid < 0:
        raise OSError(err, f"clone: {os.strerror(err)}")
    return pid


def unshare(flags: int) -> None:
    _check(_libc.unshare(ctypes.c_int(flags)), "unshare")


def setns(fd: int, flags: int) -> None:
    """Join the namespaces `flags` names of the process a pidfd holds, all at once (Linux 5.8);
    the caller must be single-threaded to join a user namespace.  setns(2)."""
    _check(_libc.setns(ctypes.c_int(fd), ctypes.c_int(flags)), "setns")


def mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    _check(
        _libc.mount(_path(source), _path(target), _path(fstype), ctypes.c_ulong(flags), _path(data)),
        f"mount {target}",
    )


def umount_detach(target: str) -> None:
    _check(_libc.umount2(_path(target), ctypes.c_int(MNT_DETACH)), f"umount {target}")


def pivot_root(new_root: str, put_old: str) -> None:
    _check(_libc.syscall(ctypes.c_long(_SYS_PIVOT_ROOT), _path(new_root), _path(put_old)), "pivot_root")


class _MountAttr(ctypes.Structure):
    _fields_ = [
        ("attr_set", ctypes.c_uint64),
        ("attr_clr", ctypes.c_uint64),
        ("propagation", ctypes.c_uint64),
        ("userns_fd", ctypes.c_uint64),
    ]


def mount_setattr(path: str, attr_set: int, recursive: bool, fd: int = AT_FDCWD) -> None:
    """Set mount attributes on a mount (and, recursively, every mount below it); with fd and an
    empty path, on the mount (or detached tree) that fd holds."""
    attr = _MountAttr(attr_set, 0, 0, 0)
    flags = (AT_RECURSIVE if recursive else 0) | (AT_EMPTY_PATH if not path else 0)
    _check(
        _libc.syscall(
            ctypes.c_long(_SYS_MOUNT_SETATTR), ctypes.c_int(fd), _path(path),
            ctypes.c_uint(flags), ctypes.byref(attr), ctypes.c_size_t(ctypes.sizeof(attr)),
        ),
        f"mount_setattr {path or 'fd %d' % fd}",
    )


def open_tree_clone(fd: int) -> int:
    """A detached copy of the mount tree at the object `fd` holds (a recursive bind not yet
    attached anywhere), close-on-exec.  The object must lie in our own mount namespace."""
    flags = OPEN_TREE_CLONE | os.O_CLOEXEC | AT_EMPTY_PATH | AT_RECURSIVE
    return _check(_libc.syscall(ctypes.c_long(_SYS_OPEN_TREE), ctypes.c_int(fd), b"", ctypes.c_uint(flags)),
                  "open_tree")


def move_mount(from_fd: int, from_path: str, to_fd: int) -> None:
    """Attach the mount at from_fd/from_path (from_path empty: the mount or detached tree from_fd
    holds) onto the directory or file `to_fd` holds: no path is looked up at the target."""
    flags = MOVE_MOUNT_T_EMPTY_PATH | (MOVE_MOUNT_F_EMPTY_PATH if not from_path else 0)
    _check(_libc.syscall(ctypes.c_long(_SYS_MOVE_MOUNT), ctypes.c_int(from_fd), os.fsencode(from_path),
                         ctypes.c_int(to_fd), b"", ctypes.c_uint(flags)), "move_mount")


class _OpenHow(ctypes.Structure):
    _fields_ = [("flags", ctypes.c_uint64), ("mode", ctypes.c_uint64), ("resolve", ctypes.c_uint64)]


def openat2(dir_fd: int, path: str, flags: int, resolve: int) -> int:
    """openat(2) with resolution restrictions (RESOLVE_NO_SYMLINKS, RESOLVE_BENEATH, ...), which
    the kernel applies to every component of the path, not only the last."""
    how = _OpenHow(flags | os.O_CLOEXEC, 0, resolve)
    return _check(_libc.syscall(ctypes.c_long(_SYS_OPENAT2), ctypes.c_int(dir_fd), os.fsencode(path),
                                ctypes.byref(how), ctypes.c_size_t(ctypes.sizeof(how))), f"openat2 {path}")


def set_interface_up(name: str) -> None:
    """Bring a network interface up (SIOCSIFFLAGS), as `ip link set NAME up` does."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        request = struct.pack("16sH14x", name.encode(), 0)
        flags = struct.unpack("16sH14x", fcntl.ioctl(sock, _SIOCGIFFLAGS, request))[1]
        fcntl.ioctl(sock, _SIOCSIFFLAGS, struct.pack("16sH14x", name.encode(), flags | _IFF_UP))


def set_hostname(name: str) -> None:
    socket.sethostname(name)


def set_domainname(name: str) -> None:
    encoded = name.encode()
    _check(_libc.setdomainname(encoded, ctypes.c_size_t(len(encoded))), "setdomainname")


def set_command_line(title: str) -> None:
    """Overwrite this process's argv area, which /proc/<pid>/cmdline shows to anyone.

    A forked helper inherits the caller's command line (host paths included); the box can
    read its init's.  The area is the one /proc/self/stat names (arg_start, arg_end); this
    process's own copy-on-write pages, as setproctitle does it.
    """
    with open("/proc/self/stat", "rb") as f:
        fields = f.read().rsplit(b")", 1)[1].split()
    arg_start, arg_end = int(fields[45]), int(fields[46])  # stat fields 48 and 49
    size = arg_end - arg_start
    text = title.encode()[: max(0, size - 1)]
    ctypes.memset(arg_start, 0, size)
    ctypes.memmove(arg_start, text, len(text))


# --- python-prctl -----------------------------------------------------------------

def prctl_directory() -> str:
    """Where python-prctl is installed (side: parent), for a child started with -I -S."""
    import prctl

    return os.path.dirname(os.path.abspath(prctl.__file__))


def load_prctl() -> None:
    """Import python-prctl now, so forks of this process do not each import it."""
    import _prctl  # noqa: F401
    import prctl  # noqa: F401


def set_parent_death_signal(signum: int) -> None:
    import prctl

    prctl.set_pdeathsig(signum)


def set_dumpable(dumpable: bool) -> None:
    import prctl

    prctl.set_dumpable(dumpable)


# --- the target's last mile (sandbox/_lastmile.c) ---------------------------------------------------

def _last_mile() -> ModuleType:
    """The C extension, or an error that says how to build it (a source checkout run without setup)."""
    try:
        from . import _lastmile
    except ImportError as e:
        raise ImportError(f"sandbox/_lastmile.c is not built ({e}): pip install the package, or run "
                          "`python setup.py build_ext --inplace` in the source tree (scripts/setup does)") from None
    return _lastmile


def load_last_mile() -> None:
    """Import the C extension now, so the inits cloned from this process do not each load it."""
    _last_mile()


def last_mile_steps() -> tuple[str, ...]:
    """The names of the last mile's steps, by the number its failure record carries (0: none)."""
    return tuple(_last_mile().STEPS)


def spawn_confined(path: str, argv: tuple[str, ...], env_pairs: tuple[tuple[str, str], ...], cwd: str,
                   limits: list[tuple[int, int, int]], keep_fds: tuple[int, ...], cgroup_fds: tuple[int, ...], bpf: bytes,
                   last_cap: int, error_fd: int, death_signal: int = 0, lifeline: int = -1) -> int:
    """Clone a child that confines itself and execs `path` (_lastmile.c, where each of its system calls
    is made, in order); returns its pid once it has exec'd or failed.  A failure is a record of two
    native ints (step number, errno) on error_fd, which should be a close-on-exec pipe."""
    return int(_last_mile().spawn(
        os.fsencode(path), [os.fsencode(arg) for arg in argv],
        [os.fsencode(name) + b"=" + os.fsencode(value) for name, value in env_pairs], os.fsencode(cwd),
        limits, keep_fds, cgroup_fds, bpf, last_cap, error_fd, death_signal, lifeline,
    ))
