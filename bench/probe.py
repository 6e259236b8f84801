"""What a box looks like from inside: run in every variant before the bench times anything.

Prints one JSON object and nothing else.  Standard library only and no socket: it runs in the
sh profile, whose seccomp filter has no @network, and under `python3 -I -S -c` as well as as
a script.  Whoever ran it compares what it saw with its own view (bench.py: isolation_problems),
so a speed-up that drops a namespace, the filter or no_new_privs cannot look fast.
"""
import json
import os

NAMESPACES = ("user", "mnt", "pid", "net", "ipc", "uts", "cgroup")
STATUS_FIELDS = ("Seccomp", "NoNewPrivs", "CapEff")
WRITE_TRIES = ("/", "/usr", "/etc", "/var/tmp", "/dev/shm")  # the last two: world-writable on a host


def namespaces():
    """Namespace ids as the kernel names them, e.g. 'net:[4026531840]'; None if unreadable."""
    seen = {}
    for name in NAMESPACES:
        try:
            seen[name] = os.readlink("/proc/self/ns/" + name)
        except OSError:
            seen[name] = None
    return seen


def status():
    """Seccomp mode (2 = filter), NoNewPrivs and effective capabilities, from /proc/self/status."""
    seen = dict.fromkeys(STATUS_FIELDS)
    try:
        with open("/proc/self/status") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key in seen:
                    seen[key] = value.strip()
    except OSError:
        pass
    return seen


def interfaces():
    """Network interfaces of the probe's network namespace: /proc/net/dev follows the reader's."""
    try:
        with open("/proc/self/net/dev") as f:
            return sorted(line.split(":")[0].strip() for line in f.readlines()[2:])
    except OSError:
        return None


def filesystem_of(path):
    """The type of the filesystem a path is on (the longest mount point above it in mountinfo):
    a writable tmpfs is the box's own scratch, a writable ext4 or overlay is the host's disk."""
    best, fstype = "", None
    try:
        with open("/proc/self/mountinfo") as f:
            for line in f:
                fields = line.split()
                point = fields[4].replace("\\040", " ")
                inside = path == point or path.startswith(point.rstrip("/") + "/")
                if inside and len(point) >= len(best):
                    best, fstype = point, fields[fields.index("-") + 1]
    except (OSError, ValueError, IndexError):
        pass
    return fstype


def writable_outside_tmp():
    """Which of a few places outside /tmp accept a new file (each one tried is removed again),
    each with its filesystem type."""
    writable = {}
    for place in WRITE_TRIES + (os.environ.get("HOME", "/"), os.getcwd()):
        if place == "/tmp" or place.startswith("/tmp/") or place in writable:
            continue
        path = os.path.join(place, ".bench-probe-%d" % os.getpid())
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except OSError:
            continue
        os.close(fd)
        os.unlink(path)
        writable[place] = filesystem_of(place)
    return writable


def main():
    seen = {"ns": namespaces(), "pid": os.getpid(), "interfaces": interfaces(),
            "writable_outside_tmp": writable_outside_tmp()}
    seen.update(status())
    print(json.dumps(seen, sort_keys=True))


if __name__ == "__main__":
    main()
