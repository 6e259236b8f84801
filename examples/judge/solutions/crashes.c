#include <stdio.h>

/* The classic: scanf given the values, not their addresses.  It compiles (with a warning). */
int main(void) {
    long long *a = 0, *b = 0;
    if (scanf("%lld %lld", a, b) != 2) return 1;
    printf("%lld\n", *a + *b);
    return 0;
}
