"""Raise our own limits to dodge them: every hard limit stays (EPERM without CAP_SYS_RESOURCE),
through setrlimit and through prlimit on ourselves and on our children; raising a soft limit up to
its hard limit is allowed and changes nothing the verdict depends on (TLE is judged on measured CPU
time, OLE on the supervisor's count).  Then prove it: a busy loop under --cpu-time 1 after raising
the soft CPU limit still ends in TLE."""
import os
import resource

for name in ("RLIMIT_CPU", "RLIMIT_AS", "RLIMIT_NPROC", "RLIMIT_NOFILE", "RLIMIT_FSIZE", "RLIMIT_STACK",
             "RLIMIT_CORE", "RLIMIT_MEMLOCK", "RLIMIT_MSGQUEUE", "RLIMIT_NICE", "RLIMIT_RTPRIO", "RLIMIT_SIGPENDING"):
    number = getattr(resource, name)
    soft, hard = resource.getrlimit(number)
    if hard == resource.RLIM_INFINITY:
        continue  # nothing to raise
    for how in ("setrlimit", "prlimit(0)", "prlimit(self)"):
        try:
            if how == "setrlimit":
                resource.setrlimit(number, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
            else:
                resource.prlimit(0 if how == "prlimit(0)" else os.getpid(), number, (hard * 2 + 1, hard * 2 + 1))
            print("HOLE", how, "raised", name, "above", hard)
        except (OSError, ValueError) as e:
            print("SAFE", how, name, "hard", hard, ":", e)
child = os.fork()
if child == 0:
    import time
    time.sleep(5)
    os._exit(0)
try:
    hard = resource.getrlimit(resource.RLIMIT_CPU)[1]
    resource.prlimit(child, resource.RLIMIT_CPU, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
    print("HOLE raised a child's RLIMIT_CPU")
except (OSError, ValueError) as e:
    print("SAFE prlimit(child) RLIMIT_CPU:", e)
os.kill(child, 9)
soft, hard = resource.getrlimit(resource.RLIMIT_CPU)
resource.setrlimit(resource.RLIMIT_CPU, (hard, hard))
print("SAFE soft CPU limit raised to the hard", hard, "s; spinning: the verdict must still be TLE", flush=True)
while True:
    pass
