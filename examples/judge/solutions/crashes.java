import java.util.Scanner;

/* Reads into an array it never allocated: NullPointerException, uncaught (exit 1). */
public class Main {
    public static void main(String[] args) {
        Scanner in = new Scanner(System.in);
        long[] values = null;
        values[0] = in.nextLong();
        values[1] = in.nextLong();
        System.out.println(values[0] + values[1]);
    }
}
