package dev.larder.storage;

import com.fasterxml.jackson.databind.JsonNode;
import dev.larder.errors.PermissionDeniedException;
import dev.larder.internal.Json;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A named prefix in a namespace, with an owner and permissions; {@link #ref(String)} makes a {@link
 * DatasetRef} to read and write objects directly in the object store (a local folder, or S3 with
 * vended credentials).
 *
 * <pre>{@code
 * Dataset ds = conn.getNamespace("default").getDataset("raw_events");
 * try (OutputStream out = ds.ref("big.bin").openOutputStream(Map.of("kind", "blob"))) {
 *   out.write(bytes);
 * }
 * byte[] back = ds.ref("big.bin").readBytes();
 * }</pre>
 */
public final class Dataset {
  private final Namespace namespace;
  private final String name;
  private final String description;
  private final String owner;
  private final String project;
  private final String access;

  Dataset(Namespace namespace, JsonNode info) {
    this.namespace = namespace;
    this.name = info.path("name").asText();
    this.description = info.path("description").asText("");
    this.owner = info.path("owner").asText("");
    this.project = Json.str(info, "project");
    this.access = info.path("access").asText("r");
  }

  /** @return the namespace it lives in */
  public Namespace namespace() {
    return namespace;
  }

  /** @return the dataset name */
  public String name() {
    return name;
  }

  /** @return what it holds */
  public String description() {
    return description;
  }

  /** @return the user who owns it */
  public String owner() {
    return owner;
  }

  /** @return the project it belongs to, or null */
  public String project() {
    return project;
  }

  /** @return your access, {@code "r"} or {@code "rw"} */
  public String access() {
    return access;
  }

  /**
   * A path inside the dataset.
   *
   * @param key a relative {@code /}-separated key, e.g. {@code "raw/2024.csv"} ({@code ""}: the top folder)
   * @return the reference
   * @throws dev.larder.errors.InvalidArgumentException on an invalid key
   */
  public DatasetRef ref(String key) {
    return new DatasetRef(this, key);
  }

  /**
   * Credentials scoped to this dataset (fetched from the platform, re-used while valid).
   *
   * @return the credentials
   */
  public StorageCredentials credentials() {
    return namespace.storage().reusableCredentials(namespace.name(), List.of(name));
  }

  /**
   * Where the dataset lives: {@code file:///...} (local stores) or {@code s3://bucket/<dataset>}.
   *
   * @return the URI
   */
  public String uri() {
    return credentials().uri(name);
  }

  /**
   * Options for Delta/Parquet readers to reach this dataset directly, as the Python client's {@code
   * storage_options()}: {@code AWS_ACCESS_KEY_ID}, {@code AWS_SECRET_ACCESS_KEY}, {@code
   * AWS_SESSION_TOKEN}, {@code AWS_REGION} and, for a custom endpoint, {@code AWS_ENDPOINT_URL};
   * empty for local stores. They hold secrets: do not log them.
   *
   * @return the options
   */
  public Map<String, String> storageOptions() {
    StorageCredentials c = credentials();
    Map<String, String> o = new LinkedHashMap<>();
    if ("local".equals(c.type())) {
      return o;
    }
    o.put("AWS_ACCESS_KEY_ID", c.accessKeyId());
    o.put("AWS_SECRET_ACCESS_KEY", c.secretAccessKey());
    o.put("AWS_SESSION_TOKEN", c.sessionToken());
    o.put("AWS_REGION", c.region() == null ? "us-east-1" : c.region());
    if (c.endpointUrl() != null) {
      o.put("AWS_ENDPOINT_URL", c.endpointUrl());
    }
    return o;
  }

  void requireWrite(String what) {
    if (!"rw".equals(access)) {
      throw new PermissionDeniedException("You may only read dataset '" + name + "' in namespace '"
          + namespace.name() + "' and cannot " + what + "; ask its owner for 'rw' permission.",
          Map.of("namespace", namespace.name(), "dataset", name, "access", access));
    }
  }

  ObjectBackend backend() {
    return ObjectBackend.of(credentials());
  }

  @Override
  public String toString() {
    return "Dataset(" + namespace.name() + "/" + name + ", access=" + access + ")";
  }
}
