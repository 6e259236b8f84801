# The C extension sandbox/_lastmile.c (the target's last mile); called only through _syscalls.spawn_confined.
STEPS: tuple[str, ...]
EXECVE: int

def spawn(path: bytes, argv: list[bytes], envp: list[bytes], cwd: bytes, rlimits: list[tuple[int, int, int]],
          keep_fds: tuple[int, ...], cgroup_fds: tuple[int, ...], bpf: bytes, last_cap: int, error_fd: int,
          death_signal: int = ..., lifeline: int = ...) -> int: ...
