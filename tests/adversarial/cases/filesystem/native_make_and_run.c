/* native: a program cannot make a file to run, nor run a tool of the host.  memfd_create, execveat,
   openat2 and rename are refused (ENOSYS), the box has no shell or tools (ENOENT), and the first open
   for writing, into its own writable /work, kills it (SV). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

static void check(const char *what, long result, int wanted) {
    printf("%s %s: %ld %s\n", result == -1 && errno == wanted ? "SAFE" : "HOLE", what, result, strerror(errno));
    fflush(stdout);
    errno = 0;
}

int main(void) {
    char *argv[] = {"sh", "-c", "echo HOLE a shell ran", NULL};
    check("memfd_create", syscall(SYS_memfd_create, "payload", 0), ENOSYS);
    check("execveat /bin/sh", syscall(SYS_execveat, AT_FDCWD, "/bin/sh", argv, NULL, 0), ENOSYS);
    check("execve /bin/sh", execv("/bin/sh", argv), ENOENT);
    check("execve /usr/bin/env", execv("/usr/bin/env", argv), ENOENT);
    check("openat2", syscall(SYS_openat2, AT_FDCWD, "/work/payload", NULL, 0), ENOSYS);
    check("rename", rename("/work/probe", "/work/payload"), ENOSYS);
    printf("SAFE next: an open for writing, which the filter kills\n");
    fflush(stdout);
    int fd = open("/work/payload", O_WRONLY | O_CREAT | O_TRUNC, 0755);
    printf("HOLE open for writing: %d %s\n", fd, strerror(errno));
    return 0;
}
