#include <stdio.h>

/* Adds by counting one at a time: instant for small numbers, far too slow for 10^12. */
int main(void) {
    long long a, b;
    volatile long long sum;
    if (scanf("%lld %lld", &a, &b) != 2) return 1;
    sum = b;
    for (long long i = 0; i < a; i++) sum = sum + 1;
    for (long long i = 0; i > a; i--) sum = sum - 1;
    printf("%lld\n", sum);
    return 0;
}
