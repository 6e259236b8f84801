"""io_uring: a whole second system-call interface the filter cannot see into (many kernel CVEs,
and the reason Google disabled it in production).  NULL params / fd -1: EFAULT or EBADF if allowed."""
from probelib import filtered  # bound next to the probe by the harness

filtered("io_uring_setup(1, NULL)", 425, 1, 0)
filtered("io_uring_enter(-1, ...)", 426, -1, 1, 0, 0, 0, 0)
filtered("io_uring_register(-1, ...)", 427, -1, 0, 0, 0)
filtered("io_uring_setup with junk in the high bits", 425, (1 << 32) | 1, 0)
