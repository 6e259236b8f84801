"""Reach the places the verdict comes from: the results file the caller holds open (an inherited
descriptor), the init's status pipe that carries the run's record (through /proc/1/fd), the caller's
temporary directories, and any --result path.  Only fds 0-2 exist; /proc/1/fd/* cannot be opened;
the host's /tmp is not the box's."""
import glob
import os

for fd in range(3, 1024):
    try:
        os.fstat(fd)
        print("HOLE descriptor", fd, "is open:", os.readlink(f"/proc/self/fd/{fd}"))
        try:
            os.write(fd, b'{"verdict": "OK"}\n')
            print("HOLE wrote a forged verdict to fd", fd)
        except OSError:
            pass
    except OSError:
        pass
print("SAFE no descriptor above 2 is open")
fds = sorted(int(x) for x in os.listdir("/proc/self/fd"))
print("SAFE /proc/self/fd:" if fds[:3] == [0, 1, 2] and len(fds) <= 4 else "HOLE /proc/self/fd:", fds)
record = b'{"kind": "exited", "wait_status": 0, "user_time": 0, "system_time": 0, "max_rss": 0, "wall_time": 0}\n'
for fd in range(0, 32):
    try:
        w = os.open(f"/proc/1/fd/{fd}", os.O_WRONLY | os.O_NONBLOCK)
        os.write(w, record)
        print("HOLE wrote a forged record into the init's fd", fd)
    except OSError:
        pass
print("SAFE none of the init's descriptors could be opened for writing")
found = glob.glob("/tmp/pytest-of-*") + glob.glob("/tmp/sbx-*") + glob.glob("/tmp/*/results.txt")
print("HOLE host temp entries visible:" if found else "SAFE no host temp entry visible", found)
for path in ("/proc/1/cwd/results.txt", "/proc/self/cwd/../results.txt", "/result.json", "/work/result.json"):
    try:
        with open(path, "w") as f:
            f.write('{"verdict": "OK"}')
        print("SAFE" if path.startswith("/work/") else "HOLE", "wrote", path, "(box-private)" if path.startswith("/work/") else "")
    except OSError as e:
        print("SAFE", path, e.strerror)
