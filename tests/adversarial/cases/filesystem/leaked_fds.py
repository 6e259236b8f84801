"""Find a descriptor the caller leaked into the box and use it to leave.

Models CVE-2024-21626 (runc "Leaky Vessels": a leaked fd to the host's /sys/fs/cgroup, reached
with WORKDIR /proc/self/fd/7, gave a cwd outside the container), CVE-2016-9962 (runc exec
leaked an fd of the host), and judge submissions that read the expected output from a file
the judge forgot to close.  The harness hands `sandbox run` an extra open file; only 0, 1, 2
may reach the program, and the working directory must be inside the box.
"""
import os
import resource
import stat

limit = min(resource.getrlimit(resource.RLIMIT_NOFILE)[0], 65536)
open_fds = []
for fd in range(limit):
    try:
        os.fstat(fd)
        open_fds.append(fd)
    except OSError:
        pass
print("SAFE only fds 0-2 are open" if open_fds == [0, 1, 2] else f"HOLE open fds: {open_fds}")
beyond = [int(n) for n in os.listdir("/proc/self/fd") if int(n) > 2]  # one of them: the listing's own
print("SAFE /proc/self/fd lists nothing of the caller's" if len(beyond) <= 1 else f"HOLE /proc/self/fd lists {beyond}")
for fd in range(3, 64):
    try:
        os.chdir(f"/proc/self/fd/{fd}")
        print("HOLE chdir through /proc/self/fd/%d to %s" % (fd, os.getcwd()))
    except OSError:
        pass
    try:
        os.fchdir(fd)
        print("HOLE fchdir(%d) worked" % fd)
    except OSError:
        pass
print("SAFE no descriptor to chdir through")
cwd = os.getcwd()
print("SAFE" if cwd == "/work" else "HOLE", "the working directory is", cwd)
for fd in (0, 1, 2):
    mode = os.fstat(fd).st_mode
    if stat.S_ISDIR(mode) or stat.S_ISREG(mode) and os.readlink(f"/proc/self/fd/{fd}").startswith("/tmp/"):
        print("HOLE fd", fd, "is", os.readlink(f"/proc/self/fd/{fd}"))
    else:
        print("SAFE fd", fd, "is", os.readlink(f"/proc/self/fd/{fd}"))
