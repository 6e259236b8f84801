#include <stdio.h>

/* int is too small for the third case: a wrong answer there, right on the others. */
int main(void) {
    long long a, b;
    if (scanf("%lld %lld", &a, &b) != 2) return 1;
    printf("%d\n", (int)(a + b));
    return 0;
}
