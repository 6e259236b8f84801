"""Find the judge's expected answers anywhere the box can see.

Models the judge tricks that read the answer instead of computing it: DOMjudge/isolate
submissions that search the file system for *.ans / *.out / testdata files, walk up from
the working directory, or grep every readable file for the answer.  The harness's canary
(a file whose first words are the marker below) lives in a host directory: its token must be nowhere in the box.
"""
import os

canary = os.environ["CANARY_PATH"]
MARKER = b"hidden" + b" answer "  # how the canary file begins; spelt so this source does not hold it
suffixes = (".ans", ".out", ".expected", ".answer", ".sol")
names = ("answer", "expected", "testdata", "tests", "secret", os.path.basename(canary))
found, scanned = [], 0
for top in ("/", "/dev/shm"):
    for root, dirs, files in os.walk(top):
        dirs[:] = [d for d in dirs if os.path.join(root, d) not in ("/proc", "/usr", "/dev", "/sys")]
        for name in files:
            path = os.path.join(root, name)
            if name.endswith(suffixes) or name.startswith(names):
                found.append(path)
            if root.startswith(("/work", "/tmp", "/dev/shm", "/etc")) and os.path.isfile(path):
                try:
                    with open(path, "rb") as f:
                        if MARKER in f.read(1 << 20):
                            found.append(path)
                except OSError:
                    pass
                scanned += 1
print(f"HOLE answer-like files: {sorted(set(found))}" if found else f"SAFE no answer-like file ({scanned} files read)")
print("SAFE" if sorted(os.listdir("/work")) == [os.path.basename(__file__)] else "HOLE", "/work holds only the probe:",
      os.listdir("/work"))
for path in ("/work/..", "/work/../..", "/work/../tmp/..", "/tmp/../work/../.."):
    st, root = os.stat(path), os.stat("/")
    print("SAFE" if (st.st_dev, st.st_ino) == (root.st_dev, root.st_ino) else "HOLE", path, "is the box's root")
for path in ("/usr/share/judge", "/usr/local/share/testdata", "/opt", "/srv", "/var", "/judge", "/data"):
    print("HOLE present:" if os.path.exists(path) else "SAFE absent:", path)
