/* Remount a read-only bind writable, umount a mask, or use the new mount API.
 *
 * Models: remounting a read-only bind rw (the check bubblewrap and runc rely on the
 * kernel's "locked" mount flags for; CVE-2023-27561/CVE-2019-16884 runc AppArmor/procfs
 * mount tricks), umounting a masking mount to uncover what lies beneath (Docker's masked
 * /proc paths, CVE-2019-19921), the cgroup v1 release_agent escape that needs a fresh
 * cgroup mount (CVE-2022-0492), and the new mount API (fsopen/fsconfig/fsmount, fspick,
 * open_tree, move_mount, mount_setattr) that a filter written for mount(2) may forget.
 * Invalid arguments: a call that passes the filter fails with EFAULT/EBADF (HOLE); a
 * filtered one gets ENOSYS (SAFE).  Then the read-only binds must still be read-only.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <unistd.h>

static void filtered(const char *what, long ret) {
    if (ret == -1 && errno == ENOSYS)
        printf("SAFE %s filtered\n", what);
    else
        printf("HOLE %s passed the filter: ret=%ld %s\n", what, ret, strerror(errno));
}

int main(void) {
    filtered("mount(NULL...)", syscall(SYS_mount, NULL, NULL, NULL, 0, NULL));
    filtered("mount MS_REMOUNT|MS_BIND /usr (bad target pointer)",
             syscall(SYS_mount, NULL, (void *)8, NULL, MS_REMOUNT | MS_BIND, NULL));
    filtered("mount MS_REMOUNT|MS_BIND rw of /usr",
             syscall(SYS_mount, NULL, "/usr", NULL, MS_REMOUNT | MS_BIND, NULL));
    filtered("mount MS_REMOUNT rw of /", syscall(SYS_mount, NULL, "/", NULL, MS_REMOUNT, NULL));
    filtered("mount cgroup (release_agent)", syscall(SYS_mount, "cgroup", (void *)8, "cgroup", 0, "rdma"));
    filtered("umount2(NULL)", syscall(SYS_umount2, NULL, 0));
    filtered("umount2 MNT_DETACH (bad pointer)", syscall(SYS_umount2, (void *)8, MNT_DETACH));
    filtered("umount2(\"/dev/null\")", syscall(SYS_umount2, "/dev/null", MNT_DETACH));
    /* the new mount API has no glibc wrappers here: x86_64 numbers */
    filtered("fsopen(NULL)", syscall(430, NULL, 0));
    filtered("fsconfig(-1)", syscall(431, -1, 0, NULL, NULL, 0));
    filtered("fsmount(-1)", syscall(432, -1, 0, 0));
    filtered("fspick(-1, NULL)", syscall(433, -1, NULL, 0));
    filtered("open_tree(-1, NULL)", syscall(428, -1, NULL, 0));
    filtered("move_mount(-1, NULL, -1, NULL)", syscall(429, -1, NULL, -1, NULL, 0));
    filtered("mount_setattr(-1, NULL)", syscall(442, -1, NULL, 0, NULL, 0));

    const char *readonly[] = {"/", "/usr", "/usr/bin", "/usr/lib"};
    for (unsigned i = 0; i < sizeof readonly / sizeof *readonly; i++) {
        struct statvfs st;
        if (statvfs(readonly[i], &st) == 0 && (st.f_flag & ST_RDONLY) && (st.f_flag & ST_NOSUID))
            printf("SAFE %s is still mounted read-only and nosuid\n", readonly[i]);
        else
            printf("HOLE %s is no longer read-only/nosuid\n", readonly[i]);
    }
    if (access("/dev/null", W_OK) == 0)
        printf("SAFE /dev/null is still there\n");
    return 0;
}
