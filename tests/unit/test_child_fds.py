"""close_fds_except keeps exactly what it is told to, including fd 0 (CPython's closerange(0, 0)
would close every descriptor)."""
from __future__ import annotations

import os

from sandbox._child import close_fds_except


def _is_open(fd: int) -> bool:
    try:
        os.fstat(fd)
        return True
    except OSError:
        return False


def test_only_the_kept_descriptors_survive():
    result_read, result_write = os.pipe()
    keep_read, keep_write = os.pipe()
    pid = os.fork()
    if pid == 0:
        close_fds_except(0, 1, 2, keep_read, result_write, -1)
        os.write(result_write, repr([fd for fd in range(256) if _is_open(fd)]).encode())
        os._exit(0)
    os.close(result_write)
    os.waitpid(pid, 0)
    survivors = eval(os.read(result_read, 4096))
    for fd in (result_read, keep_read, keep_write):
        os.close(fd)
    assert survivors == sorted([0, 1, 2, keep_read, result_write])
