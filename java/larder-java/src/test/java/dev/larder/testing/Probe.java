package dev.larder.testing;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.larder.Larder;
import dev.larder.LarderConnection;
import dev.larder.SecretsStore;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Connects in a child JVM and prints the outcome as one JSON line: {@code {"user", "source",
 * "project", "host", "port"}} or {@code {"error", "message"}}. Arguments: {@code builder [host port
 * project trust store region]} (empty strings: not set) or {@code url URL}.
 */
public final class Probe {
  private Probe() {}

  public static void main(String[] args) throws Exception {
    Map<String, Object> out = new LinkedHashMap<>();
    try {
      LarderConnection conn;
      if (args[0].equals("url")) {
        conn = Larder.connect(args[1]);
      } else {
        LarderConnection.Builder b = LarderConnection.builder();
        if (args.length > 1 && !args[1].isEmpty()) {
          b.host(args[1]);
        }
        if (args.length > 2 && !args[2].isEmpty()) {
          b.port(Integer.parseInt(args[2]));
        }
        if (args.length > 3 && !args[3].isEmpty()) {
          b.project(args[3]);
        }
        if (args.length > 4 && !args[4].isEmpty()) {
          b.trustStorePath(args[4]);
        }
        if (args.length > 5 && !args[5].isEmpty()) {
          b.secretsStore(SecretsStore.of(args[5]));
        }
        if (args.length > 6 && !args[6].isEmpty()) {
          b.region(args[6]);
        }
        conn = b.build();
      }
      if (args[0].equals("forget")) { // exit without close(): the shutdown hook must clean up
        out.put("user", conn.user());
        out.put("cert_folder", conn.certificates().folder().toString());
        System.out.println(new ObjectMapper().writeValueAsString(out));
        System.exit(0);
      }
      try (conn) {
        out.put("user", conn.user());
        out.put("source", conn.apiKeySource());
        out.put("project", conn.project());
        out.put("host", conn.host());
        out.put("port", conn.port());
        out.put("cert_folder", conn.certificates().folder().toString());
      }
    } catch (RuntimeException e) {
      out.put("error", e.getClass().getSimpleName());
      out.put("message", e.getMessage());
    }
    System.out.println(new ObjectMapper().writeValueAsString(out));
  }
}
