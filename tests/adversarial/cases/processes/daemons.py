"""Outlive the program: the classic double-fork + setsid daemon, one that ignores SIGHUP/SIGTERM and
blocks every signal, one that makes itself a child subreaper, one that stops itself, one parked in
vfork, one in a new process group.  The program exits 0 at once; when it does the init exits and the
kernel kills whatever is left in the box's pid namespace (the harness checks no process remains)."""
import ctypes
import os
import signal
import time

libc = ctypes.CDLL(None, use_errno=True)


def daemonize(body):
    if os.fork() == 0:
        os.setsid()
        if os.fork() == 0:
            body()
            os._exit(0)
        os._exit(0)
    os.wait()


def stubborn():
    for s in (signal.SIGHUP, signal.SIGTERM, signal.SIGINT, signal.SIGQUIT):
        signal.signal(s, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_BLOCK, signal.valid_signals())
    os.close(0), os.close(1), os.close(2)
    time.sleep(3600)


def subreaper():
    libc.prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
    if os.fork() == 0:
        if os.fork() == 0:
            time.sleep(3600)
        os._exit(0)
    time.sleep(3600)


def stopped():
    os.kill(os.getpid(), signal.SIGSTOP)
    time.sleep(3600)


def in_vfork():
    os.posix_spawn("/bin/sleep", ["sleep", "3600"], {})  # vfork-style spawn of a long sleeper
    time.sleep(3600)


def new_group():
    os.setpgid(0, 0)
    with open("/tmp/daemon.log", "w") as log:
        while True:
            log.write("still here\n")
            log.flush()
            time.sleep(0.05)


for body in (stubborn, subreaper, stopped, in_vfork, new_group, lambda: time.sleep(3600)):
    daemonize(body)
time.sleep(0.3)
alive = [p for p in os.listdir("/proc") if p.isdigit() and p not in ("1", str(os.getpid()))]
print("SAFE daemons started inside the box:", len(alive), "processes; the program exits now")
