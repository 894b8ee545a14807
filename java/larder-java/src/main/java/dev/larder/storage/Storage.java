package dev.larder.storage;

import com.fasterxml.jackson.databind.JsonNode;
import dev.larder.internal.Names;
import dev.larder.internal.RestClient;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Namespaces, datasets and vended credentials over one connection (see {@link
 * dev.larder.LarderConnection#storage()}).
 */
public final class Storage {
  private final RestClient rest;
  private final Map<String, StorageCredentials> cache = new ConcurrentHashMap<>();

  /**
   * Handed out by the connection.
   *
   * @param rest the REST session
   */
  public Storage(RestClient rest) {
    this.rest = rest;
  }

  RestClient rest() {
    return rest;
  }

  /**
   * A namespace by name.
   *
   * @param name the namespace (e.g. {@code "default"})
   * @return the namespace
   * @throws dev.larder.errors.NotFoundException when it does not exist
   */
  public Namespace getNamespace(String name) {
    Names.check("namespace", name);
    return new Namespace(this, rest.get("/namespaces/" + name));
  }

  /** @return every namespace, by name */
  public List<Namespace> listNamespaces() {
    List<Namespace> out = new ArrayList<>();
    for (JsonNode n : rest.get("/namespaces")) {
      out.add(new Namespace(this, n));
    }
    return out;
  }

  /**
   * Fresh credentials for datasets of a namespace (one REST call).
   *
   * @param namespace the namespace
   * @param datasets 1 to 20 dataset names
   * @return the credentials
   */
  public StorageCredentials credentials(String namespace, List<String> datasets) {
    TreeSet<String> names = new TreeSet<>(datasets);
    return new StorageCredentials(rest.get("/namespaces/" + namespace + "/credentials"
        + RestClient.query(Map.of("dataset", new ArrayList<>(names)))));
  }

  /**
   * Credentials for datasets, re-used until a minute before they expire (local stores' hold no
   * secret; S3 ones are renewed by asking again).
   *
   * @param namespace the namespace
   * @param datasets the datasets
   * @return the credentials
   */
  public StorageCredentials reusableCredentials(String namespace, List<String> datasets) {
    String key = namespace + "/" + String.join(",", new TreeSet<>(datasets));
    StorageCredentials c = cache.get(key);
    if (c == null || Instant.now().plus(Duration.ofMinutes(1)).isAfter(c.expiration())) {
      c = credentials(namespace, datasets);
      cache.put(key, c);
    }
    return c;
  }
}
