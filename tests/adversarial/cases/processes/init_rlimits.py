"""Change the init's resource limits.  The init runs with the program's uid, so prlimit(1, ...) passes
the kernel's same-credentials check unless the filter stops it: a program that lowers the init's
RLIMIT_CPU to one second and then makes it reap thousands of orphans gets the init SIGKILLed by the
kernel, and the sandbox loses the run's record (IE).  Raising is refused (no CAP_SYS_RESOURCE);
lowering must be refused too."""
import resource

for name in ("RLIMIT_CPU", "RLIMIT_NOFILE", "RLIMIT_AS", "RLIMIT_NPROC", "RLIMIT_FSIZE", "RLIMIT_STACK"):
    number = getattr(resource, name)
    try:
        before = resource.prlimit(1, number)
    except OSError as e:
        print("SAFE prlimit(1,", name, ") read refused:", e.strerror)
        before = None
    for label, value in (("lower", (1, 1)), ("raise", (resource.RLIM_INFINITY, resource.RLIM_INFINITY))):
        try:
            resource.prlimit(1, number, value)
            print("HOLE", label, "the init's", name, "from", before, "to", value)
        except (OSError, ValueError) as e:
            print("SAFE", label, "the init's", name, ":", e)
