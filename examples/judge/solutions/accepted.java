import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.util.StringTokenizer;

public class Main {
    public static void main(String[] args) throws Exception {
        StringTokenizer in = new StringTokenizer(new BufferedReader(new InputStreamReader(System.in)).readLine());
        long a = Long.parseLong(in.nextToken()), b = Long.parseLong(in.nextToken());
        System.out.println(a + b);
    }
}
