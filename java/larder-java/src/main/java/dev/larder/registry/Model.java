package dev.larder.registry;

import com.fasterxml.jackson.databind.JsonNode;
import dev.larder.errors.ArtifactCorruptedException;
import dev.larder.errors.NotFoundException;
import dev.larder.internal.Json;
import dev.larder.storage.ObjectBackend;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.stream.Stream;

/**
 * A ready model version: its metadata (metrics, schema, input example, lineage) and its files.
 * {@link #download(Path)} verifies every size and checksum before anything appears at the target.
 *
 * <pre>{@code
 * Model m = mr.getModel("fraud", 3);
 * m.metrics();                         // {auc=0.91, ...}
 * Path dir = m.download(Path.of("models/fraud"));
 * }</pre>
 */
public final class Model {
  private static final int PART = 8 * 1024 * 1024;

  private final ModelRegistry registry;
  private final String name;
  private final int version;
  private final String framework;
  private final String description;
  private final Map<String, Double> metrics;
  private final Object modelSchema;
  private final Object inputExample;
  private final Map<String, Object> featureView;
  private final Integer trainingDatasetVersion;
  private final String createdBy;
  private final Instant createdAt;
  private final int fileCount;
  private final long totalSize;
  private final String path;

  Model(ModelRegistry registry, JsonNode d) {
    this.registry = registry;
    this.name = d.path("name").asText();
    this.version = d.path("version").asInt();
    this.framework = d.path("framework").asText("python");
    this.description = d.path("description").asText("");
    Map<String, Double> m = new LinkedHashMap<>();
    d.path("metrics").fields().forEachRemaining(e -> m.put(e.getKey(), e.getValue().asDouble()));
    this.metrics = Collections.unmodifiableMap(m);
    this.modelSchema = Json.toJava(d.get("model_schema"));
    this.inputExample = Json.toJava(d.get("input_example"));
    JsonNode fv = d.get("feature_view");
    this.featureView = fv == null || fv.isNull() ? null : Json.toMap(fv);
    JsonNode td = d.get("training_dataset_version");
    this.trainingDatasetVersion = td == null || td.isNull() ? null : td.asInt();
    this.createdBy = Json.str(d, "created_by");
    String at = Json.str(d, "created_at");
    this.createdAt = at == null ? null : java.time.OffsetDateTime.parse(at.endsWith("Z") || at.matches(".*[+-]\\d\\d:\\d\\d$")
        ? at : at + "Z").toInstant();
    this.fileCount = d.path("file_count").asInt();
    this.totalSize = d.path("total_size").asLong();
    this.path = d.path("path").asText(name + "/" + version);
  }

  /** @return the model's name */
  public String name() {
    return name;
  }

  /** @return the version */
  public int version() {
    return version;
  }

  /** @return {@code "python"}, {@code "sklearn"}, {@code "torch"} or {@code "tensorflow"} */
  public String framework() {
    return framework;
  }

  /** @return what it is */
  public String description() {
    return description;
  }

  /** @return the metrics recorded with it */
  public Map<String, Double> metrics() {
    return metrics;
  }

  /** @return the model schema (plain JSON values), or null */
  public Object modelSchema() {
    return modelSchema;
  }

  /** @return the input example (plain JSON values), or null */
  public Object inputExample() {
    return inputExample;
  }

  /** @return {@code {"feature_store", "name", "version"}} of the feature view it was trained on, or null */
  public Map<String, Object> featureView() {
    return featureView;
  }

  /** @return the training dataset version it was trained on, or null */
  public Integer trainingDatasetVersion() {
    return trainingDatasetVersion;
  }

  /** @return who saved it */
  public String createdBy() {
    return createdBy;
  }

  /** @return when it was saved */
  public Instant createdAt() {
    return createdAt;
  }

  /** @return how many files it has */
  public int fileCount() {
    return fileCount;
  }

  /** @return their total size in bytes */
  public long totalSize() {
    return totalSize;
  }

  String url() {
    return registry.base() + "/" + name + "/versions/" + version;
  }

  /**
   * The version's manifest: one entry per file.
   *
   * @return the artifacts
   */
  public List<Artifact> artifacts() {
    List<Artifact> out = new ArrayList<>();
    for (JsonNode a : registry.rest().get(url() + "/files")) {
      JsonNode parts = a.get("parts");
      JsonNode ps = a.get("part_size");
      out.add(new Artifact(a.path("path").asText(), a.path("size").asLong(), a.path("checksum").asText(),
          a.path("checksum_algorithm").asText("sha256"), ps == null || ps.isNull() ? null : ps.asLong(),
          parts == null || parts.isNull() ? null : Json.strings(a, "parts")));
    }
    return out;
  }

  /**
   * The version's tags.
   *
   * @return tag name to (plain JSON) value
   */
  public Map<String, Object> getTags() {
    return Json.toMap(registry.rest().get(url() + "/tags"));
  }

  /**
   * Downloads the version's files into {@code dir}, verifying every size and checksum (SHA-256 or
   * BLAKE3, as saved; part by part for files saved in parts). Files go to a hidden staging folder in
   * {@code dir} first and are moved into place only when all of them verified, so a failure leaves
   * nothing half-written behind.
   *
   * @param dir the directory (created if needed; files already there with the same names are replaced)
   * @return {@code dir}
   * @throws ArtifactCorruptedException a stored file is missing, or its size or a checksum differs
   *     from what was recorded when it was saved (nothing is downloaded)
   * @throws NotFoundException the version no longer exists
   */
  public Path download(Path dir) {
    List<Artifact> artifacts = artifacts();
    for (Artifact a : artifacts) {
      Checksums.hasher(a.algorithm()); // an unknown algorithm fails before any byte moves
    }
    ObjectBackend backend = registry.backend();
    String prefix = registry.info().get("dataset") + "/" + path;
    try {
      Files.createDirectories(dir);
      Path staging = dir.resolve(".larder-download-" + UUID.randomUUID().toString().replace("-", ""));
      Files.createDirectory(staging);
      try {
        for (Artifact a : artifacts) {
          fetch(backend, prefix, a, staging);
        }
        moveInto(staging, dir);
      } finally {
        deleteTree(staging);
      }
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    return dir;
  }

  private ArtifactCorruptedException corrupted(Artifact a, String what, String prefix) {
    return new ArtifactCorruptedException("Artifact '" + a.path() + "' of " + prefix + " is corrupted in the store: "
        + what + ". Nothing was downloaded; re-save the model (or ask a data owner of the project to check the "
        + "store).", Map.of("path", a.path(), "problem", what));
  }

  private static String algoName(Artifact a) {
    return "blake3".equals(a.algorithm()) ? "BLAKE3" : "SHA-256";
  }

  private void fetch(ObjectBackend backend, String prefix, Artifact a, Path staging) throws IOException {
    String key = prefix + "/" + a.path();
    Path target = staging.resolve(a.path());
    Files.createDirectories(target.getParent());
    long stored = backend.size(key);
    if (stored < 0) {
      throw corrupted(a, "it is missing", prefix);
    }
    if (stored != a.size()) {
      throw corrupted(a, "it has " + stored + " bytes instead of " + a.size(), prefix);
    }
    if (a.parts() != null && a.partSize() != null && a.partSize() > 0) {
      long n = Math.max(1, (a.size() + a.partSize() - 1) / a.partSize());
      if (a.parts().size() != n || !Checksums.composite(a.parts(), a.algorithm()).equals(a.checksum())) {
        throw corrupted(a, "its recorded part checksums do not match its recorded checksum", prefix);
      }
      if (a.partSize() > Integer.MAX_VALUE) {
        throw corrupted(a, "its part size is larger than this client reads", prefix);
      }
      byte[] buf = new byte[(int) Math.min(a.partSize(), Math.max(a.size(), 1))];
      try (OutputStream out = Files.newOutputStream(target)) {
        for (int i = 0; i < n; i++) {
          long offset = i * a.partSize();
          int len = (int) Math.min(a.partSize(), a.size() - offset);
          byte[] chunk = len == buf.length ? buf : new byte[len];
          int got = backend.readRange(key, offset, chunk);
          if (got != len) {
            throw corrupted(a, "part " + (i + 1) + " is shorter than recorded", prefix);
          }
          if (!Checksums.of(a.algorithm(), chunk, len).equals(a.parts().get(i))) {
            throw corrupted(a, "the " + algoName(a) + " checksum of part " + (i + 1) + " (bytes " + offset + "-"
                + (offset + len - 1) + ") differs", prefix);
          }
          out.write(chunk, 0, len);
        }
      }
      return;
    }
    Checksums.Hasher h = Checksums.hasher(a.algorithm());
    long got = 0;
    byte[] buf = new byte[1 << 20];
    try (InputStream in = backend.openRead(key); OutputStream out = Files.newOutputStream(target)) {
      int r;
      while ((r = in.read(buf)) > 0) {
        got += r;
        if (got > a.size()) {
          break;
        }
        h.update(buf, 0, r);
        out.write(buf, 0, r);
      }
    }
    if (got != a.size()) {
      throw corrupted(a, "its size differs from the recorded " + a.size() + " bytes", prefix);
    }
    if (!h.hex().equals(a.checksum())) {
      throw corrupted(a, "its " + algoName(a) + " checksum differs from the one recorded when it was saved", prefix);
    }
  }

  private static void moveInto(Path staging, Path dest) throws IOException {
    List<Path> entries = new ArrayList<>();
    try (DirectoryStream<Path> ds = Files.newDirectoryStream(staging)) {
      ds.forEach(entries::add);
    }
    for (Path e : entries) {
      Path target = dest.resolve(e.getFileName().toString());
      if (Files.isDirectory(e) && Files.isDirectory(target)) {
        moveInto(e, target);
      } else {
        Files.move(e, target, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
      }
    }
  }

  private static void deleteTree(Path p) {
    if (!Files.exists(p)) {
      return;
    }
    try (Stream<Path> w = Files.walk(p)) {
      w.sorted(Comparator.reverseOrder()).forEach(x -> {
        try {
          Files.deleteIfExists(x);
        } catch (IOException ignored) {
          // best effort
        }
      });
    } catch (IOException ignored) {
      // best effort
    }
  }

  /** @return PART, the part size the Python client saves with (8 MiB) */
  static int partSize() {
    return PART;
  }

  @Override
  public String toString() {
    return "Model(" + name + ", version=" + version + ", framework=" + framework + ")";
  }
}
