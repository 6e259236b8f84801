"""Raise SIGXFSZ on ourselves without writing a byte.  The wait status cannot tell it from a file-size
limit hit, so the sandbox reports OLE: ACCEPTED LIMITATION (OLE by SIGXFSZ means "killed by SIGXFSZ");
the case pins that behaviour so a change is noticed."""
import os
import signal

signal.signal(signal.SIGXFSZ, signal.SIG_DFL)  # Python itself starts with SIGXFSZ ignored
print("SAFE raising SIGXFSZ by hand", flush=True)
os.kill(os.getpid(), signal.SIGXFSZ)
