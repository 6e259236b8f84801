/* native allows the calls a compiled program makes and no more: process control, kernel
   interfaces, pipes, event queues and directory listings all get ENOSYS.  Invalid arguments
   everywhere, so a call that got through would fail with EBADF/EFAULT/EINVAL (a HOLE). */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

struct call { const char *name; long nr; long a, b, c; };

int main(void) {
    struct call calls[] = {
        {"ptrace", SYS_ptrace, 16 /* PTRACE_ATTACH */, 1, 0},
        {"prctl", SYS_prctl, -1, 0, 0},
        {"kill", SYS_kill, -1, 0, 0},
        {"unshare", SYS_unshare, -1, 0, 0},
        {"setns", SYS_setns, -1, 0, 0},
        {"mount", SYS_mount, 0, 0, 0},
        {"chroot", SYS_chroot, 0, 0, 0},
        {"bpf", SYS_bpf, -1, 0, 0},
        {"perf_event_open", SYS_perf_event_open, 0, 0, -1},
        {"userfaultfd", SYS_userfaultfd, -1, 0, 0},
        {"io_uring_setup", SYS_io_uring_setup, 0, 0, 0},
        {"keyctl", SYS_keyctl, -1, 0, 0},
        {"process_vm_readv", SYS_process_vm_readv, 1, 0, 1},
        {"pidfd_open", SYS_pidfd_open, 1, -1, 0},
        {"seccomp", SYS_seccomp, -1, 0, 0},
        {"personality", SYS_personality, 0xffffffff, 0, 0},
        {"pipe2", SYS_pipe2, 0, 0, 0},
        {"epoll_create1", SYS_epoll_create1, -1, 0, 0},
        {"inotify_init1", SYS_inotify_init1, -1, 0, 0},
        {"getdents64", SYS_getdents64, -1, 0, 0},
        {"mknodat", SYS_mknodat, -1, 0, 0},
        {"wait4", SYS_wait4, -1, 0, -1},
    };
    for (unsigned i = 0; i < sizeof calls / sizeof calls[0]; i++) {
        errno = 0;
        long r = syscall(calls[i].nr, calls[i].a, calls[i].b, calls[i].c, 0, 0, 0);
        printf("%s %s: %ld %s\n", r == -1 && errno == ENOSYS ? "SAFE" : "HOLE", calls[i].name, r, strerror(errno));
    }
    return 0;
}
