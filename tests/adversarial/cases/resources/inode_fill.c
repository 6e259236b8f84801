/* Fill /tmp with empty files: they take no blocks, so the tmpfs `size=` cap never stops them; only an
 * inode cap (nr_inodes) does.  Each inode and dentry is kernel memory (~1 KiB) that no RLIMIT counts,
 * so without a cap a box can pin gigabytes of host memory within its wall time.  We stop at 300000
 * (about 300 MiB of kernel memory, far above the box's 64 MiB tmp size): reaching it is a HOLE. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define GOAL 300000

int main(void) {
    char name[64];
    long n;
    for (n = 0; n < GOAL; n++) {
        if (n % 10000 == 0) {
            snprintf(name, sizeof name, "/tmp/d%ld", n / 10000);
            if (mkdir(name, 0700) != 0)
                break;
        }
        snprintf(name, sizeof name, "/tmp/d%ld/%ld", n / 10000, n);
        int fd = open(name, O_CREAT | O_WRONLY | O_EXCL, 0600);
        if (fd < 0)
            break;
        close(fd);
    }
    if (n >= GOAL)
        printf("HOLE created %ld empty files in /tmp: no inode cap on the tmpfs\n", n);
    else
        printf("%s inode creation stopped after %ld files: %s\n", errno == ENOSPC ? "SAFE" : "HOLE", n, strerror(errno));
    return 0;
}
