// A small JVM program: the Java heap is not malloc, but the JVM's own native memory is.
import java.util.ArrayList;
import java.util.List;

public class Leak {
    static final List<byte[]> kept = new ArrayList<>();

    public static void main(String[] args) throws Exception {
        for (int i = 0; i < 2000; i++)
            kept.add(new byte[1000 + i]);
        Thread t = new Thread(() -> kept.add(new byte[4096]));
        t.start();
        t.join();
        System.out.println("java leaker: " + kept.size() + " arrays");
    }
}
