"""See other processes: the host's, the supervisor, other boxes.

Models reconnaissance and ptrace targets in a shared pid namespace (judges that ran
submissions side by side could read each other's /proc/<pid>/cmdline and environ;
Docker's --pid=host).  Only the box's init (pid 1) and the program itself exist; the
program's pid namespace is one level deep; no host pid shows through /proc files that
list pids (locks, the sentinel's pid).
"""
import os

me = os.getpid()
pids = sorted(int(n) for n in os.listdir("/proc") if n.isdigit())
print("SAFE" if pids == [1, me] else "HOLE", "/proc holds pids", pids)
print("SAFE" if os.getppid() == 1 else "HOLE", "the parent is the box's init:", os.getppid())
print("SAFE" if me == 2 else "HOLE", "the program is pid 2:", me)
with open("/proc/self/status") as f:
    status = dict(line.rstrip("\n").split(":\t", 1) for line in f if ":\t" in line)
print("SAFE" if status["NSpid"].split() == [str(me)] else "HOLE", "NSpid shows one level:", status["NSpid"])
sentinel = os.environ["SENTINEL_PID"]
print("HOLE the sentinel is in /proc" if os.path.exists(f"/proc/{sentinel}") and int(sentinel) not in (1, me)
      else "SAFE the sentinel's pid is not in /proc")
with open("/proc/1/status") as f:
    init = dict(line.rstrip("\n").split(":\t", 1) for line in f if ":\t" in line)
print("SAFE" if init["NSpid"].split() == ["1"] and init["PPid"] == "0" else "HOLE", "pid 1's NSpid and PPid:",
      init["NSpid"], init["PPid"])
with open("/proc/locks") as f:  # "1: POSIX ADVISORY WRITE <pid> ..." (blocked waiters have "->" after the number)
    rows = [line.replace(" -> ", " ").split() for line in f]
# An open file description lock (OFDLCK, e.g. dpkg's while apt runs on the host) belongs to no process:
# the kernel shows -1 for its pid (proc(5), /proc/locks).
foreign = [row for row in rows if len(row) > 4 and row[4] not in ("-1", "0", "1", str(me))]
print(f"HOLE pids of other processes in /proc/locks: {foreign}" if foreign else "SAFE no foreign pid in /proc/locks")
with open("/proc/self/cgroup") as f:
    paths = {line.rstrip("\n").split(":", 2)[2] for line in f}
print("SAFE" if paths == {"/"} else "HOLE", "the box's cgroup paths are its own root:", sorted(paths))
with open("/proc/loadavg") as f:
    last_pid = int(f.read().split()[4])
print("SAFE" if last_pid <= 16 else "HOLE", "the last pid in /proc/loadavg is the box's:", last_pid)
