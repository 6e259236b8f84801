"""Write the kernel's knobs through /proc (and /sys): sysctl, sysrq, core_pattern, binfmt_misc.

Models container escapes through a writable procfs: /proc/sys/kernel/core_pattern with a
pipe runs a host program as root on the next crash (the classic privileged-container
escape), /proc/sys/kernel/modprobe and uevent_helper likewise, /proc/sysrq-trigger reboots
or crashes the host, binfmt_misc registers an interpreter, cgroup release_agent
(CVE-2022-0492), and the box's own ids (uid_map/setgroups).  Opening for writing is the
attack; nothing is ever written, except values the kernel must refuse
(a second id map, lowering oom_score_adj without CAP_SYS_RESOURCE).
"""
import os

for path in ("/proc/sys/kernel/core_pattern", "/proc/sys/kernel/modprobe", "/proc/sys/kernel/hostname",
             "/proc/sys/kernel/domainname", "/proc/sys/kernel/sysrq", "/proc/sys/kernel/panic",
             "/proc/sys/kernel/randomize_va_space", "/proc/sys/vm/drop_caches", "/proc/sys/vm/overcommit_memory",
             "/proc/sys/fs/protected_symlinks", "/proc/sys/fs/suid_dumpable", "/proc/sys/net/ipv4/ip_forward",
             "/proc/sys/net/ipv4/ping_group_range", "/proc/sys/user/max_user_namespaces",
             "/proc/sysrq-trigger", "/proc/sys/fs/binfmt_misc/register", "/proc/kmsg", "/proc/kcore",
             "/proc/1/mem", "/proc/timer_list", "/proc/keys",
             "/sys/kernel/uevent_helper", "/sys/fs/cgroup/release_agent", "/sys/fs/cgroup/cgroup.procs",
             "/sys/power/state"):
    try:
        fd = os.open(path, os.O_WRONLY)
        os.close(fd)
        print("HOLE opened for writing", path)
    except OSError as e:
        print("SAFE", path, e.strerror)
# These files belong to the program itself, so opening them is allowed; the write is what the kernel refuses.
for path, value in (("/proc/self/uid_map", "0 0 1\n"), ("/proc/self/gid_map", "0 0 1\n"),
                    ("/proc/self/setgroups", "allow"), ("/proc/self/oom_score_adj", "-1000")):
    try:
        with open(path, "w") as f:
            f.write(value)
        print("HOLE wrote", repr(value), "to", path)
    except OSError as e:
        print("SAFE write", path, e.strerror)
print("HOLE /sys is mounted" if os.path.exists("/sys/kernel") else "SAFE /sys is not mounted")
