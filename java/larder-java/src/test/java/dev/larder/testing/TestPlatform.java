package dev.larder.testing;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * The live platform of the JVM tests: {@code tests/jvm_platform.py} started once per JVM (real
 * {@code larder server}s over HTTPS, a real {@code moto_server}, data written by the Python client,
 * and the Python client's answers as JSON). It stops when this JVM exits (its standard input closes).
 *
 * <p>Finds the repository from {@code LARDER_REPO_ROOT} (set by the Maven build) and Python from
 * {@code LARDER_PYTHON}, else {@code <repo>/.venv/bin/python} ({@code make install} creates it).
 */
public final class TestPlatform {
  private static TestPlatform instance;

  private final JsonNode json;
  private final JsonNode expected;
  private final Path repo;

  private TestPlatform(JsonNode json, JsonNode expected, Path repo) {
    this.json = json;
    this.expected = expected;
    this.repo = repo;
  }

  /** @return the repository root */
  public static Path repo() {
    String root = System.getenv("LARDER_REPO_ROOT");
    if (root == null) {
      root = System.getProperty("larder.repo.root", "../..");
    }
    return Path.of(root).toAbsolutePath().normalize();
  }

  /** @return the platform (started on first use) */
  public static synchronized TestPlatform get() {
    if (instance == null) {
      instance = start();
    }
    return instance;
  }

  private static TestPlatform start() {
    Path repo = repo();
    String python = System.getenv("LARDER_PYTHON");
    if (python == null || python.isBlank()) {
      python = repo.resolve(".venv/bin/python").toString();
    }
    if (!Files.isExecutable(Path.of(python))) {
      throw new IllegalStateException("No Python for the test platform at " + python + ": run 'make install' in "
          + repo + " (or set LARDER_PYTHON to a Python with larder[server,python,aws] and moto installed).");
    }
    try {
      Path out = Files.createTempDirectory("larder-jvm-platform-");
      ProcessBuilder pb = new ProcessBuilder(python, repo.resolve("tests/jvm_platform.py").toString(), out.toString());
      Path log = out.resolveSibling(out.getFileName() + ".log");
      pb.redirectError(log.toFile());
      pb.environment().entrySet().removeIf(e -> e.getKey().startsWith("LARDER_") || e.getKey().startsWith("AWS_"));
      Process p = pb.start();
      BufferedReader r = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8));
      List<String> lines = new ArrayList<>();
      String line;
      Path ready = null;
      while ((line = r.readLine()) != null) {
        lines.add(line);
        if (line.startsWith("READY ")) {
          ready = Path.of(line.substring(6).trim());
          break;
        }
      }
      if (ready == null) {
        p.waitFor(10, TimeUnit.SECONDS);
        String errors = Files.exists(log) ? Files.readString(log) : "";
        throw new IllegalStateException("tests/jvm_platform.py failed:\n" + String.join("\n", lines) + "\n" + errors);
      }
      OutputStream stdin = p.getOutputStream();
      Runtime.getRuntime().addShutdownHook(new Thread(() -> {
        try {
          stdin.close(); // the script stops its servers and removes its folder
          p.waitFor(60, TimeUnit.SECONDS);
          Files.deleteIfExists(log);
        } catch (IOException | InterruptedException ignored) {
          p.destroy();
        }
      }));
      ObjectMapper m = new ObjectMapper();
      JsonNode json = m.readTree(ready.toFile());
      JsonNode expected = m.readTree(Path.of(json.at("/feature_store/expected").asText()).toFile());
      return new TestPlatform(json, expected, repo);
    } catch (IOException e) {
      throw new IllegalStateException(e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException(e);
    }
  }

  /** @return platform.json */
  public JsonNode json() {
    return json;
  }

  /** @return the Python client's answers (expected.json) */
  public JsonNode expected() {
    return expected;
  }

  /** @param pointer a JSON pointer into platform.json @return the text there */
  public String str(String pointer) {
    JsonNode n = json.at(pointer);
    if (n.isMissingNode()) {
      throw new IllegalArgumentException("platform.json has no " + pointer);
    }
    return n.asText();
  }

  /** @return 127.0.0.1 */
  public String host() {
    return str("/host");
  }

  /** @return the main server's port */
  public int port() {
    return json.at("/port").asInt();
  }

  /** @return the main server's CA (PEM) */
  public String ca() {
    return str("/ca");
  }

  /** @return the project alice owns (the others are members) */
  public String project() {
    return str("/project");
  }

  /** @param user alice, bob, carol, dave, erin or frank @return the user's name on the platform */
  public String user(String user) {
    return str("/users/" + user + "/name");
  }

  /** @param user a user @return the user's API key */
  public String key(String user) {
    return str("/users/" + user + "/key");
  }

  /** @param user a user @return the file holding the user's API key */
  public String keyFile(String user) {
    return str("/users/" + user + "/key_file");
  }

  /** @return a builder for the main server and project as alice, trusting its CA */
  public dev.larder.LarderConnection.Builder builder() {
    return dev.larder.LarderConnection.builder().host(host()).port(port()).project(project()).trustStorePath(ca())
        .apiKeyValue(key("alice"));
  }

  /** @return the repository root */
  public Path repoRoot() {
    return repo;
  }
}
