/* Alternate 64 KiB blocks on stdout and stderr, 8 MiB each, with blocking writes: a supervisor that
 * read one stream to EOF before the other would deadlock with us.  Must finish OK. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int main(void) {
    static char block[65536];
    memset(block, '.', sizeof block);
    block[sizeof block - 1] = '\n';
    for (int i = 0; i < 128; i++) {
        write(2, block, sizeof block);
        write(1, block, sizeof block);
    }
    printf("SAFE 8 MiB on each stream, interleaved, without deadlock\n");
    return 0;
}
