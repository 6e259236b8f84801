/* Ignore and block SIGXCPU, then spin: the soft CPU limit's warning is lost, the hard limit's SIGKILL
 * is not, and the measured CPU time still says TLE (cpu_time), not RE. */
#include <signal.h>
#include <stdio.h>

int main(void) {
    sigset_t set;
    signal(SIGXCPU, SIG_IGN);
    sigemptyset(&set);
    sigaddset(&set, SIGXCPU);
    sigprocmask(SIG_BLOCK, &set, NULL);
    printf("SAFE spinning with SIGXCPU ignored\n");
    fflush(stdout);
    for (volatile unsigned long i = 0;; i++)
        ;
}
