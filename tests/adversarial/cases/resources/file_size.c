/* Write one file beyond --file-size 1M: RLIMIT_FSIZE sends SIGXFSZ (OLE). */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int main(void) {
    static char block[65536];
    memset(block, 'x', sizeof block);
    int fd = open("/tmp/big", O_CREAT | O_WRONLY | O_TRUNC, 0600);
    printf("SAFE writing a 4 MiB file under --file-size 1M\n");
    fflush(stdout);
    for (int i = 0; i < 64; i++)
        write(fd, block, sizeof block);
    printf("HOLE wrote 4 MiB\n");
    return 0;
}
