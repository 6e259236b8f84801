/* The classic `for (;;) fork();` under --pids 16: the bomb never ends on its own, so the wall time
 * must end it (TLE) and every process of it must be gone afterwards (the harness checks). */
#include <stdio.h>
#include <unistd.h>

int main(void) {
    printf("SAFE bombing under --pids 16\n");
    fflush(stdout);
    for (;;)
        fork();
}
