/* The sh profile allows no network group at all: socket() and socketpair() of every family get ENOSYS. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

int main(void) {
    int families[] = {AF_UNIX, AF_INET, AF_INET6, AF_NETLINK, AF_PACKET};
    const char *names[] = {"AF_UNIX", "AF_INET", "AF_INET6", "AF_NETLINK", "AF_PACKET"};
    int sv[2];
    for (int i = 0; i < 5; i++) {
        errno = 0;
        int fd = socket(families[i], SOCK_STREAM, 0);
        printf("%s socket(%s): %d %s\n", fd == -1 && errno == ENOSYS ? "SAFE" : "HOLE", names[i], fd, strerror(errno));
        errno = 0;
        int r = socketpair(families[i], SOCK_STREAM, 0, sv);
        printf("%s socketpair(%s): %d %s\n", r == -1 && errno == ENOSYS ? "SAFE" : "HOLE", names[i], r, strerror(errno));
    }
    return 0;
}
