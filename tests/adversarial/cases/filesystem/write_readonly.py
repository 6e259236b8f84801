"""Change the host's files: /usr, /etc, /, the binaries and libraries every later run uses.

Models persistence attacks on a judge or CI host (plant a trojaned libc or python in /usr,
as CVE-2019-5736 did to runc; edit /etc/ld.so.cache or /etc/alternatives to hijack later
runs) and escapes through a bind that was not read-only recursively (a submount of /usr left
writable).  Every write attempt on a read-only bind or on the root must fail (EROFS,
EACCES or EPERM).  A file that got created is removed at once.
"""
import os

NAME = "sbx-adversarial-probe"
for directory in ("/", "/usr", "/usr/bin", "/usr/lib", "/usr/local", "/usr/local/bin", "/usr/share", "/etc", "/bin",
                  "/lib", "/lib64", "/proc", "/etc/alternatives"):
    path = os.path.join(directory, NAME)
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))
        print("HOLE created", path)
        os.unlink(path)
    except OSError as e:
        print("SAFE create in", directory, e.strerror)
    try:
        os.mkdir(path)
        print("HOLE mkdir", path)
        os.rmdir(path)
    except OSError as e:
        print("SAFE mkdir in", directory, e.strerror)
for path in ("/usr/bin/python3", "/etc/ld.so.cache", "/usr/lib/x86_64-linux-gnu/libc.so.6", "/bin/sh",
             "/usr/lib/os-release"):
    if not os.path.exists(path):
        continue
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_APPEND))
        print("HOLE opened for writing", path)
    except OSError as e:
        print("SAFE write", path, e.strerror)
    for label, action in (("chmod", lambda p: os.chmod(p, 0o777)), ("utime", lambda p: os.utime(p, (0, 0))),
                          ("rename", lambda p: os.rename(p, p + ".moved")), ("unlink", os.unlink),
                          ("hard link into /tmp", lambda p: os.link(p, "/tmp/" + NAME))):
        try:
            action(path)
            print("HOLE", label, path)
        except OSError as e:
            print("SAFE", label, path, e.strerror)
for path in ("/usr", "/etc", "/bin", "/lib"):
    if os.path.lexists(path):
        try:
            os.rename(path, path + ".moved")
            print("HOLE renamed", path)
        except OSError as e:
            print("SAFE rename", path, e.strerror)
