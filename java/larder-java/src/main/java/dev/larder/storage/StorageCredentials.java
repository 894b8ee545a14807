package dev.larder.storage;

import com.fasterxml.jackson.databind.JsonNode;
import dev.larder.internal.Json;
import java.time.Instant;
import java.time.OffsetDateTime;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Short-lived, dataset-scoped object-store credentials the platform vended ({@code GET
 * /api/v1/namespaces/{ns}/credentials?dataset=...}). For {@code local} stores: the folders of the
 * datasets asked for on this host (never the namespace's root). For {@code s3}: STS credentials
 * limited to the datasets' prefixes. {@code toString} never shows the secrets.
 */
public final class StorageCredentials {
  private final String type;
  private final String namespace;
  private final String bucket;
  private final Map<String, String> paths;
  private final String endpointUrl;
  private final String region;
  private final String accessKeyId;
  private final String secretAccessKey;
  private final String sessionToken;
  private final Instant expiration;
  private final Map<String, String> datasets;

  StorageCredentials(JsonNode n) {
    type = Json.str(n, "type");
    namespace = Json.str(n, "namespace");
    bucket = Json.str(n, "bucket");
    Map<String, String> p = new LinkedHashMap<>();
    n.path("paths").fields().forEachRemaining(x -> p.put(x.getKey(), x.getValue().asText()));
    paths = Collections.unmodifiableMap(p);
    endpointUrl = Json.str(n, "endpoint_url");
    region = Json.str(n, "region");
    accessKeyId = Json.str(n, "access_key_id");
    secretAccessKey = Json.str(n, "secret_access_key");
    sessionToken = Json.str(n, "session_token");
    String e = Json.str(n, "expiration");
    expiration = e == null ? Instant.now() : OffsetDateTime.parse(e.replace("Z", "+00:00")).toInstant();
    Map<String, String> d = new LinkedHashMap<>();
    n.path("datasets").fields().forEachRemaining(x -> d.put(x.getKey(), x.getValue().asText()));
    datasets = Collections.unmodifiableMap(d);
  }

  /** @return {@code "local"} or {@code "s3"} */
  public String type() {
    return type;
  }

  /** @return the namespace */
  public String namespace() {
    return namespace;
  }

  /** @return the bucket (S3) or folder name (local) */
  public String bucket() {
    return bucket;
  }

  /** @return dataset name to its folder on this host (local stores), else empty */
  public Map<String, String> paths() {
    return paths;
  }

  /** @return a custom S3 endpoint, or null */
  public String endpointUrl() {
    return endpointUrl;
  }

  /** @return the S3 region, or null */
  public String region() {
    return region;
  }

  /** @return the access key id (S3; a secret's name part, still keep it private) */
  public String accessKeyId() {
    return accessKeyId;
  }

  /** @return the secret access key (S3): a secret, never log it */
  public String secretAccessKey() {
    return secretAccessKey;
  }

  /** @return the session token (S3): a secret, never log it */
  public String sessionToken() {
    return sessionToken;
  }

  /** @return when they expire */
  public Instant expiration() {
    return expiration;
  }

  /** @return dataset to your access, {@code "r"} or {@code "rw"} */
  public Map<String, String> datasets() {
    return datasets;
  }

  /**
   * The URI of a key in the namespace.
   *
   * @param key {@code <dataset>/<path>}
   * @return {@code file:///...} or {@code s3://bucket/...}
   */
  public String uri(String key) {
    if ("local".equals(type)) {
      int slash = key.indexOf('/');
      String dataset = slash < 0 ? key : key.substring(0, slash);
      String folder = paths.get(dataset);
      if (folder == null) {
        throw new dev.larder.errors.PermissionDeniedException(
            "No access to dataset '" + dataset + "' was vended with these credentials.",
            Map.<String, Object>of("dataset", dataset));
      }
      java.nio.file.Path p = java.nio.file.Path.of(folder);
      return (slash < 0 ? p : p.resolve(key.substring(slash + 1))).toUri().toString().replaceAll("/$", "");
    }
    return "s3://" + bucket + "/" + key;
  }

  @Override
  public String toString() {
    return "StorageCredentials(type=" + type + ", namespace=" + namespace + ", datasets=" + datasets
        + ", expiration=" + expiration + ")";
  }
}
