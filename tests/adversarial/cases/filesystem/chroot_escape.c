/* The classic chroot break-out, and its relatives.
 *
 * Models the textbook escape (mkdir x; chroot x; chdir("..") many times; chroot(".")),
 * used by judge submissions against chroot-only sandboxes, and pivot_root/unshare tricks.
 * chroot, pivot_root, unshare and setns must be filtered (ENOSYS); invalid arguments make
 * any call that passes the filter fail with EFAULT/EBADF/EINVAL instead (HOLE).  Then the
 * chdir("..") loop from / and from /proc/self/root must stay at the box's root: it holds
 * no host directory and no pivot leftovers.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

static void filtered(const char *what, long ret) {
    if (ret == -1 && errno == ENOSYS)
        printf("SAFE %s filtered\n", what);
    else
        printf("HOLE %s passed the filter: ret=%ld %s\n", what, ret, strerror(errno));
}

static int visible(const char *name) {
    struct stat st;
    return lstat(name, &st) == 0;
}

int main(void) {
    mkdir("/tmp/jail", 0755);
    filtered("chroot(NULL)", syscall(SYS_chroot, NULL));
    filtered("chroot(\"/tmp/jail\")", syscall(SYS_chroot, "/tmp/jail"));
    filtered("pivot_root(NULL, NULL)", syscall(SYS_pivot_root, NULL, NULL));
    filtered("unshare(bad flags)", syscall(SYS_unshare, 0x1));          /* EINVAL if it passes */
    filtered("unshare(CLONE_NEWUSER|CLONE_NEWNS)", syscall(SYS_unshare, 0x10020000 | 0x1));
    filtered("setns(-1, 0)", syscall(SYS_setns, -1, 0));

    const char *starts[] = {"/", "/tmp/jail", "/proc/self/root", "/proc/self/cwd", "/work"};
    for (unsigned i = 0; i < sizeof starts / sizeof *starts; i++) {
        if (chdir(starts[i]) != 0) {
            printf("SAFE cannot enter %s: %s\n", starts[i], strerror(errno));
            continue;
        }
        for (int n = 0; n < 256; n++)
            chdir("..");
        char cwd[4096] = "";
        if (!getcwd(cwd, sizeof cwd) || strcmp(cwd, "/") != 0)
            printf("HOLE after chdir(\"..\") x256 from %s the cwd is %s\n", starts[i], cwd);
        else
            printf("SAFE chdir(\"..\") x256 from %s stops at /\n", starts[i]);
        const char *host[] = {"oldroot", "newroot", "home", "root", "var", "boot", "sys", "run", "srv", "mnt"};
        for (unsigned j = 0; j < sizeof host / sizeof *host; j++)
            if (visible(host[j]))
                printf("HOLE /%s is visible after the climb from %s\n", host[j], starts[i]);
        struct stat here, root;
        stat(".", &here);
        stat("/", &root);
        printf("%s the climb from %s ends at the box's root\n",
               here.st_dev == root.st_dev && here.st_ino == root.st_ino ? "SAFE" : "HOLE", starts[i]);
    }
    return 0;
}
