import dev.larder.LarderConnection;
import dev.larder.featurestore.FeatureStore;
import dev.larder.featurestore.FeatureView;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Random;

/**
 * The Java side of benchmarks/jvm_bench.py: connect time (builder to the first feature store handle)
 * and online feature vector latency over HTTPS. Prints one JSON object.
 *
 * Arguments: host port project ca keyFile view keyColumn nKeys singles batches batchSize connects
 */
public final class VectorBench {
  public static void main(String[] a) {
    long t0 = System.nanoTime();
    String host = a[0];
    int port = Integer.parseInt(a[1]);
    String project = a[2];
    String ca = a[3];
    String keyFile = a[4];
    String view = a[5];
    String keyColumn = a[6];
    int nKeys = Integer.parseInt(a[7]);
    int singles = Integer.parseInt(a[8]);
    int batches = Integer.parseInt(a[9]);
    int batchSize = Integer.parseInt(a[10]);
    int connects = Integer.parseInt(a[11]);
    LarderConnection.Builder b = LarderConnection.builder().host(host).port(port).project(project)
        .trustStorePath(ca).apiKeyFile(keyFile);
    LarderConnection conn = b.build();
    FeatureStore fs = conn.getFeatureStore();
    double firstConnectMs = (System.nanoTime() - t0) / 1e6;
    double[] warm = new double[connects];
    for (int i = 0; i < connects; i++) {
      long s = System.nanoTime();
      LarderConnection c = b.build();
      c.getFeatureStore();
      warm[i] = (System.nanoTime() - s) / 1e6;
      c.close();
    }
    FeatureView fv = fs.getFeatureView(view, 1);
    Random rnd = new Random(42);
    for (int i = 0; i < 3000; i++) { // warm-up: JIT, TLS session, keep-alive connection
      fv.getFeatureVector(Map.of(keyColumn, (long) rnd.nextInt(nKeys)));
    }
    double[] single = new double[singles];
    for (int i = 0; i < singles; i++) {
      Map<String, Object> entry = Map.of(keyColumn, (long) rnd.nextInt(nKeys));
      long s = System.nanoTime();
      List<Object> v = fv.getFeatureVector(entry);
      single[i] = (System.nanoTime() - s) / 1e6;
      if (v.isEmpty()) {
        throw new IllegalStateException("empty vector");
      }
    }
    for (int i = 0; i < 50; i++) {
      List<Map<String, Object>> entries = new ArrayList<>(batchSize);
      for (int j = 0; j < batchSize; j++) {
        entries.add(Map.of(keyColumn, (long) rnd.nextInt(nKeys)));
      }
      fv.getFeatureVectors(entries);
    }
    double[] batch = new double[batches];
    for (int i = 0; i < batches; i++) {
      List<Map<String, Object>> entries = new ArrayList<>(batchSize);
      for (int j = 0; j < batchSize; j++) {
        entries.add(Map.of(keyColumn, (long) rnd.nextInt(nKeys)));
      }
      long s = System.nanoTime();
      fv.getFeatureVectors(entries);
      batch[i] = (System.nanoTime() - s) / 1e6;
    }
    conn.close();
    System.out.println("{\"first_connect_ms\": " + firstConnectMs + ", \"connect_ms_p50\": " + pct(warm, 50)
        + ", \"single_p50_ms\": " + pct(single, 50) + ", \"single_p99_ms\": " + pct(single, 99)
        + ", \"batch_p50_ms\": " + pct(batch, 50) + ", \"batch_p99_ms\": " + pct(batch, 99) + "}");
  }

  static double pct(double[] xs, double p) {
    double[] s = xs.clone();
    Arrays.sort(s);
    int i = (int) Math.ceil(p / 100.0 * s.length) - 1;
    return s[Math.max(0, Math.min(s.length - 1, i))];
  }
}
