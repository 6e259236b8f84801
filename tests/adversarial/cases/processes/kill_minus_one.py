"""kill(-1, ...) from inside the box: every process the caller may signal, which in the box's pid
namespace is the box alone (never the init, never the host: the harness checks its sentinel).
A child ignores nothing and sends SIGTERM (which we ignore), then SIGKILL, which ends us too: the
run is the program's own death by SIGKILL (RE, no limit), recorded by an init that survived it."""
import os
import signal

signal.signal(signal.SIGTERM, signal.SIG_IGN)
print("SAFE pid", os.getpid(), "parent", os.getppid(), flush=True)
child = os.fork()
if child == 0:
    os.kill(-1, signal.SIGTERM)
    os.kill(-1, signal.SIGKILL)
    os._exit(0)
os.waitpid(child, 0)
signal.pause()
