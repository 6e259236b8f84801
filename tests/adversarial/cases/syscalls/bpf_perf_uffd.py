"""bpf, perf_event_open and userfaultfd: verifier bugs, perf races and the userfaultfd-widened race
windows behind many local privilege escalations.  NULL attributes: EFAULT/EINVAL if allowed."""
import os

from probelib import filtered  # bound next to the probe by the harness

for cmd, name in ((0, "BPF_MAP_CREATE"), (5, "BPF_PROG_LOAD"), (18, "BPF_BTF_LOAD")):
    filtered(f"bpf({name}, NULL, 0)", 321, cmd, 0, 0)
filtered("perf_event_open(NULL, 0, -1, -1, 0)", 298, 0, 0, -1, -1, 0)
filtered("perf_event_open(NULL, -1, 0, -1, 0) (all processes on cpu 0)", 298, 0, -1, 0, -1, 0)
filtered("userfaultfd(O_CLOEXEC | junk)", 323, 0x80000 | 0x1000000)
filtered("userfaultfd(0)", 323, 0)
try:
    os.open("/dev/userfaultfd", os.O_RDWR)
    print("HOLE /dev/userfaultfd opened")
except OSError as e:
    print("SAFE /dev/userfaultfd:", e.strerror)
