/* native lets the program signal itself (abort() is tgkill(2, 2, SIGABRT)) and nobody else: tgkill
   to any other thread group, tkill, kill, the queueing calls and pidfds get ENOSYS.  SIGKILL
   everywhere: a call that got through would end its target (or be dropped by the init), and
   would return 0 or ESRCH instead of ENOSYS (a HOLE).  The rule names pid 2, so the program
   must be pid 2.  That it can signal itself is tests/integration/test_signals.py's to show. */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

static void expect_filtered(const char *what, long r) {
    printf("%s %s: %ld %s\n", r == -1 && errno == ENOSYS ? "SAFE" : "HOLE", what, r, strerror(errno));
}

int main(void) {
    const char *sentinel_env = getenv("SENTINEL_PID");
    long sentinel = sentinel_env ? atol(sentinel_env) : 99999;
    printf("%s program is pid %d\n", getpid() == 2 ? "SAFE" : "HOLE", getpid());
    errno = 0;
    expect_filtered("tgkill init", syscall(SYS_tgkill, 1, 1, SIGKILL));
    expect_filtered("tgkill pid 3", syscall(SYS_tgkill, 3, 3, SIGKILL));
    expect_filtered("tgkill sentinel", syscall(SYS_tgkill, sentinel, sentinel, SIGKILL));
    expect_filtered("tgkill pid 3 with 2 in the high half", syscall(SYS_tgkill, (2L << 32) | 3, 3, SIGKILL));
    expect_filtered("tkill init", syscall(SYS_tkill, 1, SIGKILL));
    expect_filtered("tkill self", syscall(SYS_tkill, 2, SIGKILL));
    expect_filtered("kill init", syscall(SYS_kill, 1, SIGKILL));
    expect_filtered("kill everyone", syscall(SYS_kill, -1, SIGKILL));
    expect_filtered("rt_sigqueueinfo init", syscall(SYS_rt_sigqueueinfo, 1, SIGKILL, 0));
    expect_filtered("rt_tgsigqueueinfo self", syscall(SYS_rt_tgsigqueueinfo, 2, 2, SIGKILL, 0));
    expect_filtered("pidfd_send_signal", syscall(SYS_pidfd_send_signal, -1, SIGKILL, 0, 0));
    return 0;
}
