// Allocates argv[0] MiB, touching each: a Java program that needs the memory it asks for (tests of
// the java profile under RLIMIT_AS, tests/integration/test_languages.py, and under memory.max, tests/cgroup).
public class Main {
    public static void main(String[] args) {
        int megabytes = Integer.parseInt(args[0]);
        byte[][] blocks = new byte[megabytes][];
        for (int i = 0; i < megabytes; i++) { blocks[i] = new byte[1 << 20]; blocks[i][i] = 1; }
        System.out.println("allocated " + megabytes);
    }
}
