"""Exhaust descriptors under --open-files 32: open, pipe, socketpair, dup and dup2 to a high number all
stop at the limit (EMFILE/EBADF); the hard limit cannot be raised."""
import os
import resource
import socket

LIMIT = 32
held = []
try:
    while len(held) < 10 * LIMIT:
        held.append(os.open("/dev/null", os.O_RDONLY))
        held.extend(os.pipe())
        held.extend(s.detach() for s in socket.socketpair())
        held.append(os.dup(0))
    print("HOLE holds", len(held), "descriptors")
except OSError as e:
    print("SAFE" if len(held) < LIMIT else "HOLE", "stopped at", len(held) + 3, "descriptors:", e.strerror)
for target in (LIMIT, 1000, 1 << 20):
    try:
        os.dup2(0, target)
        print("HOLE dup2 to", target)
    except OSError as e:
        print("SAFE dup2 to", target, e.strerror)
try:
    resource.setrlimit(resource.RLIMIT_NOFILE, (4096, 4096))
    print("HOLE raised RLIMIT_NOFILE")
except (OSError, ValueError) as e:
    print("SAFE RLIMIT_NOFILE stays", resource.getrlimit(resource.RLIMIT_NOFILE), e)
