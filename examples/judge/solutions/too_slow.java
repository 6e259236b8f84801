import java.util.Scanner;

/* Adds by counting one at a time: instant for small numbers, far too slow for 10^12. */
public class Main {
    static volatile long sum;

    public static void main(String[] args) {
        Scanner in = new Scanner(System.in);
        long a = in.nextLong(), b = in.nextLong();
        sum = b;
        for (long i = 0; i < a; i++) sum = sum + 1;
        for (long i = 0; i > a; i--) sum = sum - 1;
        System.out.println(sum);
    }
}
