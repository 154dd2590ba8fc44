// A small JVM program: the Java heap is not malloc, but the JVM's own native memory is, and
// so is a direct ByteBuffer's memory (Unsafe.allocateMemory -> os::malloc -> malloc, the
// size rounded up to 8 bytes). The direct buffers stay referenced to the end, and the JVM
// does not free them at exit: allocscope finds them in exact mode at Unsafe_AllocateMemory0.
// The table of what it keeps goes to stderr: "FUNCTION BYTES BLOCKS".
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;

public class Leak {
    static final List<byte[]> kept = new ArrayList<>();
    static final List<ByteBuffer> direct = new ArrayList<>();

    static void keepDirect(int count, int size) {
        for (int i = 0; i < count; i++)
            direct.add(ByteBuffer.allocateDirect(size));
    }

    public static void main(String[] args) throws Exception {
        for (int i = 0; i < 2000; i++)
            kept.add(new byte[1000 + i]);
        Thread t = new Thread(() -> kept.add(new byte[4096]));
        t.start();
        t.join();
        keepDirect(25, 65536);
        System.out.println("java leaker: " + kept.size() + " arrays, " + direct.size() + " direct");
        System.err.println("Unsafe_AllocateMemory0 " + 25 * 65536 + " 25");
    }
}
