package dev.larder.featurestore;

import com.fasterxml.jackson.databind.JsonNode;
import dev.larder.errors.InvalidArgumentException;
import dev.larder.internal.Json;
import java.time.Instant;
import java.time.OffsetDateTime;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * A versioned feature group: its metadata, a query builder over its features, its commits and its
 * online rows. Get one from {@link FeatureStore#getFeatureGroup(String, Integer)}. Its offline data
 * is a Delta table at {@link #location()}: read it with larder-spark ({@code
 * LarderSpark.read(fg)}).
 *
 * <pre>{@code
 * FeatureGroup weather = fs.getFeatureGroup("weather", 1);
 * weather.primaryKey();                       // [origin]
 * weather.eventTime();                        // time_hour
 * Query q = flights.selectAll().join(weather.select("temp", "wind_speed"));
 * }</pre>
 */
public final class FeatureGroup {
  private final FeatureStore fs;
  private final int id;
  private final String name;
  private final int version;
  private final String description;
  private final List<String> primaryKey;
  private final String eventTime;
  private final List<String> partitionKey;
  private final boolean onlineEnabled;
  private final boolean statisticsEnabled;
  private final List<Feature> features;
  private final boolean hasSchema;
  private final Location location;
  private final String createdBy;
  private final Instant createdAt;

  /**
   * Where a feature group's Delta table lives: a path inside a dataset of a namespace.
   *
   * @param namespace the namespace
   * @param dataset the dataset (the project's {@code <project>_featurestore})
   * @param path the table's folder inside the dataset, e.g. {@code feature_groups/weather_1}
   */
  public record Location(String namespace, String dataset, String path) {}

  FeatureGroup(FeatureStore fs, JsonNode info) {
    this.fs = fs;
    this.id = info.path("id").asInt();
    this.name = info.path("name").asText();
    this.version = info.path("version").asInt();
    this.description = info.path("description").asText("");
    this.primaryKey = Collections.unmodifiableList(Json.strings(info, "primary_key"));
    this.eventTime = Json.str(info, "event_time");
    this.partitionKey = Collections.unmodifiableList(Json.strings(info, "partition_key"));
    this.onlineEnabled = info.path("online_enabled").asBoolean(false);
    this.statisticsEnabled = info.path("statistics_enabled").asBoolean(true);
    List<Feature> fl = new ArrayList<>();
    JsonNode fsNode = info.get("features");
    this.hasSchema = fsNode != null && fsNode.isArray();
    if (hasSchema) {
      for (JsonNode f : fsNode) {
        String n = f.path("name").asText();
        fl.add(new Feature(n, f.path("type").asText(), primaryKey.contains(n), n.equals(eventTime)));
      }
    }
    this.features = Collections.unmodifiableList(fl);
    JsonNode loc = info.path("location");
    this.location = new Location(loc.path("namespace").asText(), loc.path("dataset").asText(),
        loc.path("path").asText());
    this.createdBy = Json.str(info, "created_by");
    String at = Json.str(info, "created_at");
    this.createdAt = at == null ? null : parseTime(at);
  }

  static Instant parseTime(String t) {
    String s = t.endsWith("Z") ? t : t;
    try {
      return OffsetDateTime.parse(s).toInstant();
    } catch (RuntimeException e) {
      return Instant.parse(s.endsWith("Z") || s.contains("+") ? s : s + "Z");
    }
  }

  /** @return the platform's id of this version */
  public int id() {
    return id;
  }

  /** @return the feature group's name */
  public String name() {
    return name;
  }

  /** @return the version, from 1 */
  public int version() {
    return version;
  }

  /** @return what it holds */
  public String description() {
    return description;
  }

  /** @return the key columns */
  public List<String> primaryKey() {
    return primaryKey;
  }

  /** @return the event time column (timestamps, UTC), or null */
  public String eventTime() {
    return eventTime;
  }

  /** @return the Delta partition columns */
  public List<String> partitionKey() {
    return partitionKey;
  }

  /** @return whether the latest row per key is kept in the online store */
  public boolean onlineEnabled() {
    return onlineEnabled;
  }

  /** @return whether statistics are computed at each commit */
  public boolean statisticsEnabled() {
    return statisticsEnabled;
  }

  /** @return the schema, in column order (empty before the first insert) */
  public List<Feature> features() {
    return features;
  }

  /** @return whether the schema was recorded (by the first insert) */
  public boolean hasSchema() {
    return hasSchema;
  }

  /** @return where the Delta table lives */
  public Location location() {
    return location;
  }

  /** @return the user who created it */
  public String createdBy() {
    return createdBy;
  }

  /** @return when it was created */
  public Instant createdAt() {
    return createdAt;
  }

  /** @return the feature store it belongs to */
  public FeatureStore featureStore() {
    return fs;
  }

  String path() {
    return "/projects/" + fs.project() + "/featuregroups/" + name + "/" + version;
  }

  /**
   * A feature by name.
   *
   * @param feature the feature (column) name
   * @return the feature
   * @throws InvalidArgumentException when there is no such feature (the message lists them)
   */
  public Feature getFeature(String feature) {
    for (Feature f : features) {
      if (f.name().equals(feature)) {
        return f;
      }
    }
    List<String> known = featureNames();
    throw new InvalidArgumentException("Feature group '" + name + "' v" + version + " has no feature '" + feature
        + "'; it has " + (known.isEmpty() ? "no schema yet" : known) + ".",
        Map.of("feature", feature, "features", known));
  }

  /** @return the feature names, in schema order */
  public List<String> featureNames() {
    List<String> out = new ArrayList<>();
    features.forEach(f -> out.add(f.name()));
    return out;
  }

  // --- queries -----------------------------------------------------------------------------------

  /** @return a query of every feature */
  public Query selectAll() {
    return new Query(this, null);
  }

  /**
   * A query of some features.
   *
   * @param names feature names
   * @return the query
   * @throws InvalidArgumentException on an unknown feature
   */
  public Query select(String... names) {
    return select(Arrays.asList(names));
  }

  /**
   * A query of some features.
   *
   * @param names feature names
   * @return the query
   * @throws InvalidArgumentException on an unknown feature
   */
  public Query select(List<String> names) {
    for (String n : names) {
      getFeature(n);
    }
    return new Query(this, new ArrayList<>(names));
  }

  /**
   * A query of every feature except some.
   *
   * @param names the features to leave out
   * @return the query
   * @throws InvalidArgumentException on an unknown feature
   */
  public Query selectExcept(String... names) {
    Set<String> drop = new LinkedHashSet<>(Arrays.asList(names));
    for (String n : drop) {
      getFeature(n);
    }
    List<String> keep = new ArrayList<>();
    for (Feature f : features) {
      if (!drop.contains(f.name())) {
        keep.add(f.name());
      }
    }
    return new Query(this, keep);
  }

  // --- commits, online rows ------------------------------------------------------------------------

  /**
   * The commits of this version, newest first: {@code delta_version}, {@code operation}, {@code
   * rows_inserted}, {@code rows_updated}, {@code rows_deleted}, {@code committed_at} (and {@code
   * statistics}).
   *
   * @return one map per commit
   */
  @SuppressWarnings("unchecked")
  public List<Map<String, Object>> commits() {
    List<Map<String, Object>> out = new ArrayList<>();
    for (Object o : (List<Object>) Json.toJava(fs.rest().get(path() + "/commits"))) {
      out.add((Map<String, Object>) o);
    }
    out.sort((a, b) -> Long.compare(((Number) b.get("delta_version")).longValue(),
        ((Number) a.get("delta_version")).longValue()));
    return out;
  }

  /**
   * Rows of the online store by primary key (online-enabled groups only).
   *
   * @param keys one list of primary-key values (in {@link #primaryKey()} order) per row; at most 10,000
   * @return one row (feature name to value) per key, null where the key has no row
   * @throws dev.larder.errors.ConflictException when the group is not online-enabled
   */
  @SuppressWarnings("unchecked")
  public List<Map<String, Object>> readOnline(List<List<Object>> keys) {
    JsonNode out = fs.rest().post(path() + "/online", Map.of("keys", keys));
    List<Map<String, Object>> rows = new ArrayList<>();
    for (Object r : (List<Object>) Json.toJava(out.path("rows"))) {
      rows.add((Map<String, Object>) r);
    }
    return rows;
  }

  /**
   * Records the schema (what the first insert does; for engines that write the Delta table, such as
   * larder-spark).
   *
   * @param schema feature name to type name, in column order (the Python engine's Arrow type names)
   * @return the updated feature group
   */
  public FeatureGroup recordSchema(Map<String, String> schema) {
    List<Map<String, String>> list = new ArrayList<>();
    schema.forEach((k, v) -> list.add(Map.of("name", k, "type", v)));
    return new FeatureGroup(fs, fs.rest().put(path() + "/schema", Map.of("features", list)));
  }

  /**
   * Records a Delta commit written by an engine; the server then materializes it online
   * (online-enabled groups).
   *
   * @param deltaVersion the Delta table version the write produced
   * @param operation {@code "insert"}, {@code "upsert"} or {@code "overwrite"}
   * @param rowsInserted rows added
   * @param rowsUpdated rows replaced
   * @return the recorded commit
   */
  public Map<String, Object> recordCommit(long deltaVersion, String operation, long rowsInserted, long rowsUpdated) {
    Map<String, Object> body = new LinkedHashMap<>();
    body.put("delta_version", deltaVersion);
    body.put("operation", operation);
    body.put("rows_inserted", rowsInserted);
    body.put("rows_updated", rowsUpdated);
    return Json.toMap(fs.rest().post(path() + "/commits", body));
  }

  /** Deletes this version: its catalog entry, its Delta table and its online rows. */
  public void delete() {
    fs.rest().delete(path());
  }

  @Override
  public String toString() {
    return "FeatureGroup(" + name + ", version=" + version + ", primaryKey=" + primaryKey + ")";
  }
}
