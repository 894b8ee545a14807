package dev.larder.featurestore;

import com.fasterxml.jackson.databind.JsonNode;
import dev.larder.errors.InvalidArgumentException;
import dev.larder.errors.NotFoundException;
import dev.larder.internal.Json;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * A versioned feature view: a query of features plus its label columns, for training data (with
 * larder-spark) and online serving (here, over REST, no Spark). Get one from {@link
 * FeatureStore#getFeatureView(String, Integer)}.
 *
 * <p>Feature vectors come from {@code POST /api/v1/projects/{p}/featureviews/{name}/{version}/vectors}
 * in the order of training's {@code X} columns ({@link #servingFeatures()}): the query's columns less
 * the labels, the left group's primary key and the event times. Values are as the online store
 * holds them in JSON: {@code String}, {@code Long}, {@code Double}, {@code Boolean} or null
 * (timestamps as ISO 8601 strings). Thread-safe: one view can serve many threads.
 *
 * <pre>{@code
 * FeatureView fv = fs.getFeatureView("delays", 1);
 * List<Object> v = fv.getFeatureVector(Map.of("origin", "JFK", "tailnum", "N14228"));
 * List<List<Object>> batch = fv.getFeatureVectors(List.of(Map.of("origin", "JFK"), Map.of("origin", "LGA")));
 * }</pre>
 */
public final class FeatureView {
  private final FeatureStore fs;
  private final String name;
  private final int version;
  private final String description;
  private final List<String> labels;
  private final Query query;
  private final Instant createdAt;
  private final String vectorsPath;
  private volatile List<String> servingFeatures;

  FeatureView(FeatureStore fs, JsonNode info, Query query) {
    this.fs = fs;
    this.name = info.path("name").asText();
    this.version = info.path("version").asInt();
    this.description = info.path("description").asText("");
    this.labels = Collections.unmodifiableList(Json.strings(info, "labels"));
    this.query = query;
    String at = Json.str(info, "created_at");
    this.createdAt = at == null ? null : FeatureGroup.parseTime(at);
    this.vectorsPath = path() + "/vectors";
  }

  /** @return the name */
  public String name() {
    return name;
  }

  /** @return the version, from 1 */
  public int version() {
    return version;
  }

  /** @return what it is for */
  public String description() {
    return description;
  }

  /** @return the label columns ({@code y}) */
  public List<String> labels() {
    return labels;
  }

  /** @return the features and their (point-in-time) joins */
  public Query query() {
    return query;
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
    return "/projects/" + fs.project() + "/featureviews/" + name + "/" + version;
  }

  /**
   * Training's {@code X} columns among {@code columns}: less the labels, the left group's primary key
   * (unless {@code primaryKey}) and the event times (unless {@code eventTime}).
   *
   * @param columns the query's columns
   * @param primaryKey keep the left group's primary key
   * @param eventTime keep the event times
   * @return the feature columns, in order
   */
  public List<String> featureColumns(List<String> columns, boolean primaryKey, boolean eventTime) {
    Set<String> drop = new HashSet<>();
    if (!primaryKey) {
      drop.addAll(query.featureGroup().primaryKey());
    }
    if (!eventTime) {
      for (FeatureGroup g : query.groups()) {
        if (g.eventTime() != null) {
          drop.add(g.eventTime());
        }
      }
    }
    List<String> out = new ArrayList<>();
    for (String c : columns) {
      if (!labels.contains(c) && !drop.contains(c)) {
        out.add(c);
      }
    }
    return out;
  }

  /**
   * The names of a feature vector's values, in order (training's {@code X} columns).
   *
   * @return the names
   */
  public List<String> servingFeatures() {
    List<String> s = servingFeatures;
    if (s == null) {
      s = Collections.unmodifiableList(featureColumns(query.plan().columns(), false, false));
      servingFeatures = s;
    }
    return s;
  }

  /** Prepares serving: works out the vector's feature order once (the first vector does it otherwise). */
  public void initServing() {
    servingFeatures();
  }

  // --- serving -------------------------------------------------------------------------------------

  /**
   * One feature vector from the online store.
   *
   * @param entry the key columns of every online feature group in the view, by the names used in the
   *     query, e.g. {@code {"origin": "JFK", "tailnum": "N14228"}}
   * @return the values, in {@link #servingFeatures()} order
   * @throws NotFoundException a key has no online row (the message names it)
   * @throws InvalidArgumentException the entry lacks a key column
   */
  public List<Object> getFeatureVector(Map<String, ?> entry) {
    return vectors(List.of(entry), null, false).get(0);
  }

  /**
   * One feature vector, with values you provide and missing keys allowed or not.
   *
   * @param entry the key columns (see {@link #getFeatureVector(Map)})
   * @param passedFeatures feature values you provide (request-time features, or those of a group that
   *     is not online); they win over online values; may be null
   * @param allowMissing nulls for keys missing online instead of an error
   * @return the values, in {@link #servingFeatures()} order
   * @throws NotFoundException a key has no online row and {@code allowMissing} is false
   */
  public List<Object> getFeatureVector(Map<String, ?> entry, Map<String, ?> passedFeatures, boolean allowMissing) {
    return vectors(List.of(entry), passedFeatures == null ? null : List.of(passedFeatures), allowMissing).get(0);
  }

  /**
   * One feature vector by feature name.
   *
   * @param entry the key columns
   * @return feature name to value, in {@link #servingFeatures()} order
   */
  public Map<String, Object> getFeatureVectorAsMap(Map<String, ?> entry) {
    List<Object> v = getFeatureVector(entry);
    Map<String, Object> out = new LinkedHashMap<>();
    List<String> names = servingFeatures();
    for (int i = 0; i < names.size(); i++) {
      out.put(names.get(i), v.get(i));
    }
    return out;
  }

  /**
   * Many feature vectors in one request (one online-store round trip per feature group).
   *
   * @param entries one entry of key columns per vector (1 to 10,000)
   * @return the vectors, in the order of {@code entries}
   * @throws InvalidArgumentException no entries, or an entry without a key column
   * @throws NotFoundException a key has no online row
   */
  public List<List<Object>> getFeatureVectors(List<? extends Map<String, ?>> entries) {
    return getFeatureVectors(entries, null, false);
  }

  /**
   * Many feature vectors in one request.
   *
   * @param entries one entry of key columns per vector (1 to 10,000)
   * @param passedFeatures one map of provided values per entry (an empty one where none), or null
   * @param allowMissing nulls for keys missing online instead of an error
   * @return the vectors, in the order of {@code entries}
   * @throws InvalidArgumentException no entries, an entry without a key column, or passedFeatures of
   *     another length
   * @throws NotFoundException a key has no online row and {@code allowMissing} is false
   */
  public List<List<Object>> getFeatureVectors(List<? extends Map<String, ?>> entries,
      List<? extends Map<String, ?>> passedFeatures, boolean allowMissing) {
    if (entries == null || entries.isEmpty()) {
      throw new InvalidArgumentException("getFeatureVectors() needs at least one entry.");
    }
    return vectors(entries, passedFeatures, allowMissing);
  }

  @SuppressWarnings("unchecked")
  private List<List<Object>> vectors(List<? extends Map<String, ?>> entries,
      List<? extends Map<String, ?>> passed, boolean allowMissing) {
    List<String> names = servingFeatures();
    Map<String, Object> body = new LinkedHashMap<>(4);
    body.put("entries", entries);
    body.put("passed_features", passed);
    body.put("allow_missing", allowMissing);
    List<String> served = new ArrayList<>();
    List<List<Object>> vectors = new ArrayList<>(entries.size());
    Json.readVectors(fs.rest().postFastRaw(vectorsPath, Json.bytes(body)), served, vectors);
    Map<String, Integer> index = new HashMap<>();
    for (int i = 0; i < served.size(); i++) {
      index.putIfAbsent(served.get(i), i);
    }
    if (passed != null) { // the values as passed, not as JSON gives them back
      for (int i = 0; i < passed.size() && i < vectors.size(); i++) {
        for (Map.Entry<String, ?> e : passed.get(i).entrySet()) {
          Integer at = index.get(e.getKey());
          if (at != null) {
            vectors.get(i).set(at, e.getValue());
          }
        }
      }
    }
    if (served.equals(names)) {
      return vectors;
    }
    List<List<Object>> reordered = new ArrayList<>(vectors.size());
    for (List<Object> v : vectors) {
      List<Object> r = new ArrayList<>(names.size());
      for (String n : names) {
        Integer at = index.get(n);
        r.add(at == null ? null : v.get(at));
      }
      reordered.add(r);
    }
    return reordered;
  }

  // --- training datasets ---------------------------------------------------------------------------

  /**
   * The materialized training datasets of this version (written by the Python client's {@code
   * create_training_data}); each is {@code {"version", "description", "location", "metadata",
   * "created_at"}}, the metadata holding the query's SQL, the split and the row counts.
   *
   * @return one map per training dataset
   */
  @SuppressWarnings("unchecked")
  public List<Map<String, Object>> getTrainingDatasets() {
    List<Map<String, Object>> out = new ArrayList<>();
    for (Object o : (List<Object>) Json.toJava(fs.rest().get(path() + "/trainingdatasets"))) {
      out.add((Map<String, Object>) o);
    }
    return out;
  }

  /**
   * One training dataset's metadata.
   *
   * @param trainingDatasetVersion its version
   * @return {@code {"version", "description", "location": {"namespace", "dataset", "path"},
   *     "metadata", "created_at"}}
   * @throws NotFoundException when it does not exist (or is still being written)
   */
  public Map<String, Object> getTrainingDataset(int trainingDatasetVersion) {
    return Json.toMap(fs.rest().get(path() + "/trainingdatasets/" + trainingDatasetVersion));
  }

  /** Deletes this feature view version and its training datasets. */
  public void delete() {
    fs.rest().delete(path());
  }

  @Override
  public String toString() {
    return "FeatureView(" + name + ", version=" + version + ", labels=" + labels + ")";
  }
}
