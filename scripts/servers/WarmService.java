// A JVM service that takes seconds to become ready, as real Java services do (class loading,
// caches filled at start, the JIT compiling the hot paths), then answers HTTP on port 8080:
//   GET /count  -> "<n> <heap digest>": n counts the requests served (state in the heap), the
//                 digest is recomputed from the warm cache each time (the heap intact after a move)
//   GET /digest -> the digest computed once, when the service became ready
// It prints READY once warm (what `migrate-cli checkpoint --when-log READY` waits for).
import com.sun.net.httpserver.HttpServer;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;

public final class WarmService {
    private static final Map<Integer, long[]> CACHE = new HashMap<>();
    private static final AtomicLong SERVED = new AtomicLong();

    private static long digest() {
        long d = 1125899906842597L;
        for (int k = 0; k < CACHE.size(); k++) {
            for (long v : CACHE.get(k)) d = 31 * d + v;
        }
        return d;
    }

    public static void main(String[] args) throws Exception {
        int entries = Integer.parseInt(System.getenv().getOrDefault("WARM_ENTRIES", "20000"));
        int rounds = Integer.parseInt(System.getenv().getOrDefault("WARM_ROUNDS", "120"));
        long t0 = System.nanoTime();
        // The warm-up: fill the cache, then recompute it many times so the JIT compiles it.
        for (int r = 0; r < rounds; r++) {
            for (int k = 0; k < entries; k++) {
                long[] row = CACHE.computeIfAbsent(k, x -> new long[64]);
                for (int i = 0; i < row.length; i++) row[i] = row[i] * 6364136223846793005L + k + i + r;
            }
        }
        final long ready = digest();
        HttpServer server = HttpServer.create(new InetSocketAddress(8080), 64);
        server.createContext("/count", ex -> reply(ex, SERVED.incrementAndGet() + " " + digest()));
        server.createContext("/digest", ex -> reply(ex, Long.toString(ready)));
        server.start();
        System.out.printf("READY in %d ms, digest %d%n", (System.nanoTime() - t0) / 1_000_000, ready);
        System.out.flush();
    }

    private static void reply(com.sun.net.httpserver.HttpExchange ex, String body) throws java.io.IOException {
        byte[] b = (body + "\n").getBytes(StandardCharsets.UTF_8);
        ex.sendResponseHeaders(200, b.length);
        try (OutputStream o = ex.getResponseBody()) { o.write(b); }
    }
}
