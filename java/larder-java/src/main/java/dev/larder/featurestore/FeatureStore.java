package dev.larder.featurestore;

import com.fasterxml.jackson.databind.JsonNode;
import dev.larder.LarderConnection;
import dev.larder.errors.NotFoundException;
import dev.larder.internal.Json;
import dev.larder.internal.Names;
import dev.larder.internal.RestClient;
import dev.larder.storage.Dataset;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A project's feature store, as handed out by {@link LarderConnection#getFeatureStore()}. Creating
 * the handle makes no REST call. Offline data lives as Delta tables in the project's {@code
 * <project>_featurestore} dataset (read them as Spark Datasets with larder-spark); the catalog
 * (schemas, keys, versions, commits) on the server.
 *
 * <pre>{@code
 * FeatureStore fs = conn.getFeatureStore();
 * FeatureGroup weather = fs.getFeatureGroup("weather", 1);
 * FeatureView delays = fs.getFeatureView("delays");          // the newest version
 * }</pre>
 */
public final class FeatureStore {
  private final String name;
  private final String project;
  private final LarderConnection connection;
  private Dataset dataset;

  /**
   * Handed out by {@link LarderConnection#getFeatureStore()}.
   *
   * @param name {@code "<project>_featurestore"}
   * @param project the owning project
   * @param connection the connection
   */
  public FeatureStore(String name, String project, LarderConnection connection) {
    this.name = name;
    this.project = project;
    this.connection = connection;
  }

  /** @return {@code "<project>_featurestore"} */
  public String name() {
    return name;
  }

  /** @return the project that owns the feature store */
  public String project() {
    return project;
  }

  /** @return the connection it talks through */
  public LarderConnection connection() {
    return connection;
  }

  RestClient rest() {
    return connection.restClient();
  }

  @Override
  public String toString() {
    return "FeatureStore(name=" + name + ", project=" + project + ")";
  }

  /**
   * The dataset that holds the feature store's Delta tables and training datasets.
   *
   * @return the dataset (one REST call the first time)
   */
  public synchronized Dataset dataset() {
    if (dataset == null) {
      JsonNode info = rest().get("/projects/" + project + "/featurestore");
      dataset = connection.getNamespace(info.path("namespace").asText()).getDataset(info.path("dataset").asText());
    }
    return dataset;
  }

  /**
   * The projects this feature store is shared with (read only).
   *
   * @return project names
   */
  public List<String> sharedWith() {
    return Json.strings(rest().get("/projects/" + project + "/featurestore"), "shared_with");
  }

  // --- feature groups ------------------------------------------------------------------------------

  /**
   * The newest version of a feature group.
   *
   * @param name the feature group's name
   * @return the handle with its metadata
   * @throws NotFoundException naming the feature group
   * @throws dev.larder.errors.InvalidArgumentException on an invalid name
   */
  public FeatureGroup getFeatureGroup(String name) {
    return getFeatureGroup(name, null);
  }

  /**
   * A feature group version.
   *
   * @param name the feature group's name (1-63 lowercase letters, digits or {@code _})
   * @param version the version (from 1); null: the newest
   * @return the handle with its metadata (schema, keys, location)
   * @throws NotFoundException naming the feature group and version
   */
  public FeatureGroup getFeatureGroup(String name, Integer version) {
    Names.check("feature group", name);
    String q = version == null ? "" : RestClient.query(Map.of("version", version));
    return new FeatureGroup(this, rest().get("/projects/" + project + "/featuregroups/" + name + q));
  }

  /**
   * Every version of a feature group, or of every feature group.
   *
   * @param name the feature group's name; null: all
   * @return ordered by name, then version (empty when there is none)
   */
  public List<FeatureGroup> getFeatureGroups(String name) {
    Map<String, Object> params = new HashMap<>();
    params.put("name", name);
    List<FeatureGroup> out = new ArrayList<>();
    for (JsonNode n : rest().get("/projects/" + project + "/featuregroups" + RestClient.query(params))) {
      out.add(new FeatureGroup(this, n));
    }
    return out;
  }

  /**
   * Creates a feature group version (its data arrives with the first insert, from Python or from
   * larder-spark).
   *
   * @param name 1-63 characters: lowercase letters, digits or {@code _}, starting with a letter
   * @param version the version; null: one more than the newest (1 for a new name)
   * @param primaryKey the key columns (non-empty)
   * @param eventTime the event time column, or null
   * @param onlineEnabled also keep the latest row per key in the online store
   * @param description what it holds
   * @return the new version
   * @throws dev.larder.errors.InvalidArgumentException a bad name, no primary key
   * @throws dev.larder.errors.AlreadyExistsException the given version exists
   */
  public FeatureGroup createFeatureGroup(String name, Integer version, List<String> primaryKey, String eventTime,
      boolean onlineEnabled, String description) {
    Names.check("feature group", name);
    if (primaryKey == null || primaryKey.isEmpty()) {
      throw new dev.larder.errors.InvalidArgumentException("Feature group '" + name + "' needs a primary key: "
          + "primaryKey = List.of(\"id\", ...).", Map.of("name", name));
    }
    Map<String, Object> body = new LinkedHashMap<>();
    body.put("name", name);
    body.put("version", version);
    body.put("description", description == null ? "" : description);
    body.put("primary_key", primaryKey);
    body.put("event_time", eventTime);
    body.put("partition_key", List.of());
    body.put("online_enabled", onlineEnabled);
    body.put("statistics_enabled", false);
    return new FeatureGroup(this, rest().post("/projects/" + project + "/featuregroups", body));
  }

  // --- feature views ----------------------------------------------------------------------------------

  private void groupsFor(JsonNode q, Map<String, FeatureGroup> cache) {
    JsonNode left = q.path("left");
    String key = left.path("name").asText() + "/" + left.path("version").asInt();
    if (!cache.containsKey(key)) {
      cache.put(key, getFeatureGroup(left.path("name").asText(), left.path("version").asInt()));
    }
    for (JsonNode j : q.path("joins")) {
      groupsFor(j.path("query"), cache);
    }
  }

  FeatureView featureView(JsonNode info) {
    Map<String, FeatureGroup> groups = new HashMap<>();
    groupsFor(info.path("query"), groups);
    return new FeatureView(this, info, Query.fromJson(info.path("query"), groups));
  }

  /**
   * The newest version of a feature view.
   *
   * @param name the feature view's name
   * @return the view, with its query rebuilt over its feature groups
   * @throws NotFoundException naming the feature view
   */
  public FeatureView getFeatureView(String name) {
    return getFeatureView(name, null);
  }

  /**
   * A feature view version. Fetches the view and each of its feature groups once.
   *
   * @param name the feature view's name
   * @param version the version; null: the newest
   * @return the view
   * @throws NotFoundException naming the feature view and version
   */
  public FeatureView getFeatureView(String name, Integer version) {
    Names.check("feature view", name);
    String q = version == null ? "" : RestClient.query(Map.of("version", version));
    return featureView(rest().get("/projects/" + project + "/featureviews/" + name + q));
  }

  /**
   * Every version of a feature view, or of every feature view.
   *
   * @param name the name; null: all
   * @return ordered by name, then version
   */
  public List<FeatureView> getFeatureViews(String name) {
    Map<String, Object> params = new HashMap<>();
    params.put("name", name);
    List<FeatureView> out = new ArrayList<>();
    for (JsonNode n : rest().get("/projects/" + project + "/featureviews" + RestClient.query(params))) {
      out.add(featureView(n));
    }
    return out;
  }

  /**
   * Creates a feature view version from a query and its label columns.
   *
   * @param name 1-63 characters: lowercase letters, digits or {@code _}
   * @param query e.g. {@code flights.selectAll().join(weather.select("temp"))}
   * @param version the version; null: the next
   * @param labels columns of the query that are labels
   * @param description what it is for
   * @return the new view
   * @throws dev.larder.errors.InvalidArgumentException a bad name, or a label that is not a column
   */
  public FeatureView createFeatureView(String name, Query query, Integer version, List<String> labels,
      String description) {
    Names.check("feature view", name);
    List<String> cols = query.plan().columns();
    List<String> unknown = new ArrayList<>();
    for (String l : labels == null ? List.<String>of() : labels) {
      if (!cols.contains(l)) {
        unknown.add(l);
      }
    }
    if (!unknown.isEmpty()) {
      throw new dev.larder.errors.InvalidArgumentException("Label(s) " + unknown + " are not columns of the query "
          + "(it has " + cols + ").", Map.of("labels", unknown));
    }
    Map<String, Object> body = new LinkedHashMap<>();
    body.put("name", name);
    body.put("version", version);
    body.put("description", description == null ? "" : description);
    body.put("query", query.toMap());
    body.put("labels", labels == null ? List.of() : labels);
    return featureView(rest().post("/projects/" + project + "/featureviews", body));
  }
}
