"""Read a hidden answer file of the host by every path a program might try."""
import os

canary = os.environ["CANARY_PATH"]
directory = os.environ["CANARY_DIR"]
attempts = [canary, "/proc/1/root" + canary, "/proc/self/root" + canary, "/proc/1/cwd/" + os.path.basename(canary),
            "/oldroot" + canary, "/newroot" + canary, "/../../.." + canary]
for path in attempts:
    try:
        with open(path) as f:
            f.read()
        print("HOLE read", path)
    except OSError as e:
        print("SAFE", path, e.strerror)
for path in (directory, "/home", "/root", "/etc/shadow", "/var/lib"):
    print("HOLE visible" if os.path.exists(path) else "SAFE not visible", path)
