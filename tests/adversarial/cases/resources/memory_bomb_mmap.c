/* Map and touch anonymous memory without end under --memory 64M, then try to dodge the limit with
 * MAP_NORESERVE, a huge mremap and brk: each must fail (RLIMIT_AS) or get the program killed (cgroup). */
#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

int main(void) {
    size_t total = 0;
    for (;;) {
        void *p = mmap(NULL, 4 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED)
            break;
        memset(p, 1, 4 << 20);
        total += 4 << 20;
        if (total > (1UL << 30)) {
            printf("HOLE touched more than 1 GiB\n");
            return 0;
        }
    }
    printf("SAFE mmap refused after %zu MiB\n", total >> 20);
    void *big = mmap(NULL, 1UL << 30, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    printf("%s MAP_NORESERVE 1 GiB\n", big == MAP_FAILED ? "SAFE refused:" : "HOLE mapped:");
    void *brk_before = sbrk(0);
    printf("%s sbrk 512 MiB\n", sbrk(512 << 20) == (void *)-1 ? "SAFE refused:" : "HOLE grew:");
    (void)brk_before;
    return 3;
}
