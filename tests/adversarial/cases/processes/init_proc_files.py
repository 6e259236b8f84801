"""Reach into the init through /proc/1: its memory, its descriptors (the status pipe that carries the
run's record to the supervisor), its environment and stack.  The init holds capabilities in the
box's user namespace and the program none, so ptrace_may_access refuses; writable knobs of a
same-uid process (oom_score_adj) only hurt the box itself."""
import os

for path, mode in (("/proc/1/mem", os.O_RDWR), ("/proc/1/mem", os.O_RDONLY), ("/proc/1/environ", os.O_RDONLY),
                   ("/proc/1/stack", os.O_RDONLY), ("/proc/1/syscall", os.O_RDONLY), ("/proc/1/auxv", os.O_RDONLY),
                   ("/proc/1/pagemap", os.O_RDONLY), ("/proc/1/root/proc/1/environ", os.O_RDONLY),
                   ("/proc/1/cwd/.", os.O_RDONLY)):
    try:
        fd = os.open(path, mode)
        data = os.read(fd, 64)
        os.close(fd)
        print("HOLE read", path, data[:32])
    except OSError as e:
        print("SAFE", path, e.strerror)
for directory in ("/proc/1/map_files", "/proc/1/fd", "/proc/1/fdinfo"):
    try:
        names = os.listdir(directory)  # the numbers alone say nothing; their targets must stay closed
    except OSError as e:
        print("SAFE", directory, e.strerror)
        continue
    for name in names:
        try:
            print("HOLE readlink", f"{directory}/{name}", os.readlink(f"{directory}/{name}"))
        except OSError:
            pass
        try:
            with open(f"{directory}/{name}", "rb") as f:
                print("HOLE opened", f"{directory}/{name}", f.read(64)[:32])
        except OSError:
            pass
    print("SAFE", directory, "lists", len(names), "entries, none readable")
for fd in range(0, 16):
    for how in (os.O_WRONLY, os.O_RDONLY):
        try:
            opened = os.open(f"/proc/1/fd/{fd}", how)
            os.close(opened)
            print("HOLE opened the init's fd", fd)
        except OSError:
            pass
    try:
        target = os.readlink(f"/proc/1/fd/{fd}")
        print("HOLE readlink of the init's fd", fd, target)
    except OSError:
        pass
print("SAFE no descriptor of the init could be opened or read")
