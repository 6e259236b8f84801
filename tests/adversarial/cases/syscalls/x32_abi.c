/* x32 system calls (nr | 0x40000000) must kill the program: an x32 ioctl, ptrace or unshare
 * would otherwise bypass rules written for the x86_64 numbers (the classic x32 filter bypass).
 * Each attempt runs in a child first (SAFE when SIGSYS killed it); the last one is our own. */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define X32 0x40000000L

static long x32(long nr, long a, long b, long c) {
    long r;
    __asm__ volatile("syscall" : "=a"(r) : "a"(nr | X32), "D"(a), "S"(b), "d"(c) : "rcx", "r11", "memory");
    return r;
}

static void say(const char *s) { write(1, s, strlen(s)); }

static void attempt(const char *what, long nr, long a, long b, long c) {
    char line[200];
    pid_t child = fork();
    if (child == 0) {
        long r = x32(nr, a, b, c);
        snprintf(line, sizeof line, "HOLE x32 %s returned %ld\n", what, r);
        say(line);
        _exit(0);
    }
    int status;
    waitpid(child, &status, 0);
    if (WIFSIGNALED(status) && WTERMSIG(status) == SIGSYS)
        snprintf(line, sizeof line, "SAFE x32 %s killed by SIGSYS\n", what);
    else
        snprintf(line, sizeof line, "HOLE x32 %s: child status %#x\n", what, status);
    say(line);
}

int main(void) {
    attempt("getpid (39)", 39, 0, 0, 0);
    attempt("x32-only ioctl (514) TIOCSTI on fd -1", 514, -1, 0x5412, 0);
    attempt("x32-only ptrace (521) PTRACE_TRACEME", 521, 0, 0, 0);
    attempt("x32-only execve (520) NULL", 520, 0, 0, 0);
    attempt("unshare (272) CLONE_NEWUSER", 272, 0x10000000, 0, 0);
    attempt("socket (41) AF_NETLINK", 41, 16, 3, 0);
    attempt("clone3 (435) NULL", 435, 0, 0, 0);
    say("SAFE now the program itself: expect SV\n");
    x32(39, 0, 0, 0);
    say("HOLE the program survived an x32 getpid\n");
    return 0;
}
