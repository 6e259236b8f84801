"""Raise SIGSYS on ourselves.  A seccomp kill and a self-raised SIGSYS look the same in a wait status,
so the sandbox reports SV for both: ACCEPTED LIMITATION (SV means "killed by SIGSYS"; SECURITY.md
should say a program can give itself SV or, with SIGXFSZ, OLE).  The case pins that behaviour."""
import os
import signal

print("SAFE raising SIGSYS by hand", flush=True)
os.kill(os.getpid(), signal.SIGSYS)
