/* i386 system calls through `int 0x80` from a 64-bit program must kill it: the compat table has
 * other numbers (1 = exit, 26 = ptrace, 54 = ioctl, 102 = socketcall, 310 = unshare on i386).
 * Each attempt runs in a child first (SAFE when SIGSYS killed it); the last one is our own. */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static long int80(long nr, long a, long b, long c) {
    long r;
    __asm__ volatile("int $0x80" : "=a"(r) : "a"(nr), "b"(a), "c"(b), "d"(c) : "r8", "r9", "r10", "r11", "memory");
    return r;
}

static void say(const char *s) { write(1, s, strlen(s)); }

static void attempt(const char *what, long nr, long a, long b, long c) {
    char line[200];
    pid_t child = fork();
    if (child == 0) {
        long r = int80(nr, a, b, c);
        snprintf(line, sizeof line, "HOLE int 0x80 %s returned %ld\n", what, r);
        say(line);
        _exit(0);
    }
    int status;
    waitpid(child, &status, 0);
    if (WIFSIGNALED(status) && WTERMSIG(status) == SIGSYS)
        snprintf(line, sizeof line, "SAFE int 0x80 %s killed by SIGSYS\n", what);
    else
        snprintf(line, sizeof line, "HOLE int 0x80 %s: child status %#x\n", what, status);
    say(line);
}

int main(void) {
    attempt("getpid (20)", 20, 0, 0, 0);
    attempt("ptrace (26) PTRACE_TRACEME", 26, 0, 0, 0);
    attempt("ioctl (54) TIOCSTI on fd -1", 54, -1, 0x5412, 0);
    attempt("socketcall (102) socket(AF_NETLINK)", 102, 1, 0, 0);
    attempt("unshare (310) CLONE_NEWUSER", 310, 0x10000000, 0, 0);
    attempt("mount (21) NULL", 21, 0, 0, 0);
    attempt("kill (37) pid 1 SIGKILL", 37, 1, 9, 0);
    say("SAFE now the program itself: expect SV\n");
    int80(20, 0, 0, 0);
    say("HOLE the program survived an int 0x80 getpid\n");
    return 0;
}
