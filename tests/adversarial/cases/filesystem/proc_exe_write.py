"""Overwrite the host's binaries through /proc/self/exe and /proc/1/exe.

Models CVE-2019-5736 (runc): a container process opened /proc/self/exe of a host binary
entering it (O_PATH, then reopened for writing through /proc/self/fd/N once the binary had
stopped running) and overwrote runc on the host.  Here the program's own interpreter and the
init's executable are host files bound read-only: opening them for writing must fail with
ETXTBSY, EROFS or EACCES, by every route.
"""
import os

O_PATH = getattr(os, "O_PATH", 0o10000000)


def try_write(label, path):
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND)
        os.close(fd)
        print("HOLE opened for writing:", label)
    except OSError as e:
        print("SAFE", label, e.strerror)


for path in ("/proc/self/exe", "/proc/1/exe", "/proc/2/exe", "/proc/thread-self/exe", os.path.realpath("/proc/self/exe"),
             "/usr/bin/python3", "/bin/sh", "/usr/lib/x86_64-linux-gnu/libc.so.6"):
    try_write(path, path)
try:
    fd = os.open("/proc/self/exe", O_PATH)
    try_write("/proc/self/fd/N of an O_PATH /proc/self/exe", f"/proc/self/fd/{fd}")
    os.close(fd)
except OSError as e:
    print("SAFE O_PATH /proc/self/exe", e.strerror)
try:
    fd = os.open("/proc/1/exe", O_PATH)
    print("HOLE O_PATH handle on the init's executable")
    try_write("/proc/self/fd/N of an O_PATH /proc/1/exe", f"/proc/self/fd/{fd}")
except OSError as e:
    print("SAFE O_PATH /proc/1/exe", e.strerror)
for path in ("/proc/self/exe", "/usr/bin/python3"):
    try:
        os.truncate(path, 0)
        print("HOLE truncated", path)
    except OSError as e:
        print("SAFE truncate", path, e.strerror)
