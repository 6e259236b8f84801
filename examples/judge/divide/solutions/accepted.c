#include <stdio.h>

int main(void) {
    long long a, b;
    if (scanf("%lld %lld", &a, &b) != 2) return 1;
    printf("%.6f\n", (double)a / b);  /* 0.333333: right within 1e-6, not byte for byte */
    return 0;
}
