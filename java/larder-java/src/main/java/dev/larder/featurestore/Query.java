package dev.larder.featurestore;

import com.fasterxml.jackson.databind.JsonNode;
import dev.larder.errors.InvalidArgumentException;
import dev.larder.internal.Json;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashSet;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;

/**
 * A selection of features from a feature group, joined with others (point-in-time correct when both
 * sides have an event time), filtered: the Python client's {@code Query}, engine-neutral. Run it with
 * larder-spark ({@code LarderSpark.read(query)}); {@link #plan()} gives the joins and output columns
 * an engine runs.
 *
 * <p>Point-in-time semantics (the Python engine's): each left row gets the right row with the same
 * keys and the latest event time at or before its own (a tie matches); left rows with no such row
 * keep their place with null features (left joins); {@code maxAge} leaves older matches null. A
 * right side with an event time joined to a left side without one gives its latest row per primary
 * key.
 *
 * <pre>{@code
 * Query q = flights.selectAll()
 *     .join(weather.select("temp"), List.of("origin"))                     // point in time
 *     .join(airports.select("alt"), List.of("dest"), List.of("faa"), "left", "dest_", null);
 * q.plan().columns();   // [flight_id, origin, dest, time_hour, ..., temp, dest_alt]
 * }</pre>
 */
public final class Query {
  private final FeatureGroup fg;
  private final List<String> features;
  private final List<Join> joins = new ArrayList<>();
  private Filter filter;

  /**
   * One join of a query.
   *
   * @param query the right side
   * @param leftOn the left side's key columns
   * @param rightOn the right side's key columns, in the same order
   * @param joinType {@code "left"} or {@code "inner"}
   * @param prefix prepended to the right side's feature names (may be null)
   * @param maxAge point-in-time joins only: older matches leave the features null (may be null)
   */
  public record Join(Query query, List<String> leftOn, List<String> rightOn, String joinType, String prefix,
      Duration maxAge) {}

  Query(FeatureGroup fg, List<String> features) {
    this.fg = fg;
    this.features = features;
  }

  /** @return the left (root) feature group */
  public FeatureGroup featureGroup() {
    return fg;
  }

  /** @return the selected feature names of the left feature group */
  public List<String> features() {
    return features != null ? Collections.unmodifiableList(features) : fg.featureNames();
  }

  /** @return the joins, in order */
  public List<Join> joins() {
    return Collections.unmodifiableList(joins);
  }

  /** @return the filter, or null */
  public Filter filter() {
    return filter;
  }

  /**
   * Joins another query on the right feature group's primary key (which the left side must have).
   *
   * @param subQuery the right side, e.g. {@code weather.select("temp")}
   * @return this query
   * @throws InvalidArgumentException when the left side lacks the right primary key
   */
  public Query join(Query subQuery) {
    return join(subQuery, null, null, "left", null, null);
  }

  /**
   * Joins on columns with the same names on both sides.
   *
   * @param subQuery the right side
   * @param on the key columns
   * @return this query
   */
  public Query join(Query subQuery, List<String> on) {
    return join(subQuery, on, on, "left", null, null);
  }

  /**
   * Joins another query.
   *
   * @param subQuery the right side
   * @param leftOn the left key columns (null with rightOn null: the right primary key)
   * @param rightOn the right key columns, in the same order
   * @param joinType {@code "left"} (every left row stays) or {@code "inner"}
   * @param prefix prepended to the right side's feature names, or null
   * @param maxAge point-in-time joins only: a match older than this leaves the right features null
   * @return this query
   * @throws InvalidArgumentException no common key, unknown key columns, mismatched key lists, an
   *     unknown join type, or maxAge without event times
   */
  public Query join(Query subQuery, List<String> leftOn, List<String> rightOn, String joinType, String prefix,
      Duration maxAge) {
    if (!"left".equals(joinType) && !"inner".equals(joinType)) {
      throw new InvalidArgumentException("Unknown joinType '" + joinType + "'; use \"left\" or \"inner\".");
    }
    FeatureGroup right = subQuery.fg;
    Set<String> leftNames = new HashSet<>(fg.featureNames());
    Set<String> rightNames = new HashSet<>(right.featureNames());
    if (leftOn == null && rightOn == null) {
      if (leftNames.containsAll(right.primaryKey())) {
        leftOn = right.primaryKey();
        rightOn = right.primaryKey();
      } else {
        Set<String> common = new TreeSet<>(leftNames);
        common.retainAll(rightNames);
        common.remove(fg.eventTime());
        common.remove(right.eventTime());
        throw new InvalidArgumentException("No common key to join '" + fg.name() + "' with '" + right.name()
            + "': the left side lacks " + right.primaryKey() + " (the right primary key). Pass leftOn/rightOn"
            + (common.isEmpty() ? "." : "; columns in both: " + common + "."),
            Map.of("left", fg.name(), "right", right.name()));
      }
    }
    if (leftOn == null || rightOn == null || leftOn.isEmpty() || leftOn.size() != rightOn.size()) {
      throw new InvalidArgumentException("leftOn and rightOn must be non-empty lists of the same length.");
    }
    for (String c : leftOn) {
      if (!leftNames.contains(c)) {
        throw new InvalidArgumentException("Join key '" + c + "' is not a feature of '" + fg.name() + "'.",
            Map.of("key", c));
      }
    }
    for (String c : rightOn) {
      if (!rightNames.contains(c)) {
        throw new InvalidArgumentException("Join key '" + c + "' is not a feature of '" + right.name() + "'.",
            Map.of("key", c));
      }
    }
    if (maxAge != null && (fg.eventTime() == null || right.eventTime() == null)) {
      throw new InvalidArgumentException("maxAge applies to point-in-time joins: both sides need an event time.");
    }
    joins.add(new Join(subQuery, List.copyOf(leftOn), List.copyOf(rightOn), joinType, prefix, maxAge));
    return this;
  }

  /**
   * Keeps the rows matching a condition; several calls combine with AND.
   *
   * @param condition e.g. {@code Filter.gt(weather, "temp", 10)}
   * @return this query
   * @throws InvalidArgumentException when the condition uses a feature group not in the query
   */
  public Query filter(Filter condition) {
    Set<FeatureGroup> groups = Collections.newSetFromMap(new IdentityHashMap<>());
    groups.addAll(groups());
    for (Filter c : condition.comparisons()) {
      if (!groups.contains(c.group)) {
        throw new InvalidArgumentException("The filter uses feature '" + c.feature + "' of a feature group that is "
            + "not in this query.", Map.of("feature", c.feature));
      }
    }
    filter = filter == null ? condition : filter.and(condition);
    return this;
  }

  /** @return the feature groups of the query, left first, in join order */
  public List<FeatureGroup> groups() {
    List<FeatureGroup> out = new ArrayList<>();
    out.add(fg);
    for (Join j : joins) {
      out.addAll(j.query.groups());
    }
    return out;
  }

  // --- the plan ----------------------------------------------------------------------------------

  /**
   * One column of a query's result: {@code alias}'s {@code column}, named {@code name}; {@code aged}
   * when the join that brings the alias has a maxAge.
   *
   * @param name the output name
   * @param alias the table alias ({@code fg0}, {@code fg1}, ... in join order)
   * @param column the source column
   * @param aged whether a maxAge applies
   */
  public record Output(String name, String alias, String column, boolean aged) {}

  /**
   * One join as an engine runs it: each row of {@code left} (an alias) gets at most one row of {@code
   * right} when {@code unique}: the latest at or before {@code leftTime} (point in time), the latest
   * by {@code rightTime} (right event time only), or the one with the same right primary key.
   *
   * @param left the left alias
   * @param right the right alias
   * @param leftOn left key columns
   * @param rightOn right key columns
   * @param leftTime the left event time (point-in-time joins), else null
   * @param rightTime the right event time, or null
   * @param inner an inner join
   * @param unique at most one right row per left row
   * @param maxAge the join's maxAge, or null
   * @param rightPrimaryKey the right group's primary key
   */
  public record Step(String left, String right, List<String> leftOn, List<String> rightOn, String leftTime,
      String rightTime, boolean inner, boolean unique, Duration maxAge, List<String> rightPrimaryKey) {}

  /**
   * A query's plan: its tables by alias, joins and output columns.
   *
   * @param tables alias to feature group ({@code fg0} is the left group)
   * @param needed alias to the columns the engine must read
   * @param steps the joins, in order
   * @param outputs the result's columns, in order
   * @param filter the filter, or null
   * @param aliasOfGroup the alias of each feature group (for filters), by identity
   */
  public record Plan(Map<String, FeatureGroup> tables, Map<String, Set<String>> needed, List<Step> steps,
      List<Output> outputs, Filter filter, Map<FeatureGroup, String> aliasOfGroup) {
    /** @return the output column names, in order */
    public List<String> columns() {
      List<String> out = new ArrayList<>();
      outputs.forEach(o -> out.add(o.name()));
      return out;
    }
  }

  /**
   * The plan the Python engine would run: the same output names and order, the same joins.
   *
   * @return the plan
   * @throws InvalidArgumentException when two joined groups give the same feature name (pass a prefix)
   */
  public Plan plan() {
    Map<Query, String> aliases = new IdentityHashMap<>();
    Map<String, FeatureGroup> tables = new LinkedHashMap<>();
    Map<String, Set<String>> needed = new LinkedHashMap<>();
    List<Step> steps = new ArrayList<>();
    List<Output> outputs = new ArrayList<>();
    List<String> names = new ArrayList<>();
    Map<FeatureGroup, String> byGroup = new IdentityHashMap<>();
    walk(this, "", Set.of(), null, aliases, tables, needed, steps, outputs, names, byGroup);
    if (filter != null) {
      for (Filter c : filter.comparisons()) {
        String a = byGroup.get(c.group);
        if (a != null) {
          needed.get(a).add(c.feature);
        }
      }
    }
    return new Plan(tables, needed, steps, outputs, filter, byGroup);
  }

  private static String alias(Query q, Map<Query, String> aliases, Map<String, FeatureGroup> tables,
      Map<String, Set<String>> needed, Map<FeatureGroup, String> byGroup) {
    String a = aliases.get(q);
    if (a == null) {
      a = "fg" + aliases.size();
      aliases.put(q, a);
      tables.put(a, q.fg);
      byGroup.putIfAbsent(q.fg, a);
      Set<String> n = new java.util.LinkedHashSet<>(q.features());
      n.addAll(q.fg.primaryKey());
      if (q.fg.eventTime() != null) {
        n.add(q.fg.eventTime());
      }
      for (Join j : q.joins) {
        n.addAll(j.leftOn);
      }
      needed.put(a, n);
    }
    return a;
  }

  private static void walk(Query q, String prefix, Set<String> skip, Duration age, Map<Query, String> aliases,
      Map<String, FeatureGroup> tables, Map<String, Set<String>> needed, List<Step> steps, List<Output> outputs,
      List<String> names, Map<FeatureGroup, String> byGroup) {
    String a = alias(q, aliases, tables, needed, byGroup);
    for (String f : q.features()) {
      if (skip.contains(f)) {
        continue;
      }
      String name = prefix + f;
      if (names.contains(name)) {
        throw new InvalidArgumentException("Two joined feature groups both provide a feature named '" + name
            + "'; pass a prefix to the join (or select fewer features).", Map.of("feature", name));
      }
      names.add(name);
      outputs.add(new Output(name, a, f, age != null));
    }
    for (Join j : q.joins) {
      String b = alias(j.query, aliases, tables, needed, byGroup);
      needed.get(b).addAll(j.rightOn);
      FeatureGroup rfg = j.query.fg;
      FeatureGroup lfg = q.fg;
      boolean pit = lfg.eventTime() != null && rfg.eventTime() != null;
      boolean unique = pit || (rfg.eventTime() != null
          ? new HashSet<>(rfg.primaryKey()).equals(new HashSet<>(j.rightOn))
          : j.rightOn.containsAll(rfg.primaryKey()));
      steps.add(new Step(a, b, j.leftOn, j.rightOn, pit ? lfg.eventTime() : null, rfg.eventTime(),
          "inner".equals(j.joinType), unique, j.maxAge, rfg.primaryKey()));
      Set<String> rightSkip = new HashSet<>(j.rightOn);
      String sub = prefix + (j.prefix == null ? "" : j.prefix);
      if (pit && (rfg.eventTime().equals(lfg.eventTime()) || names.contains(sub + rfg.eventTime()))) {
        rightSkip.add(rfg.eventTime());
      }
      walk(j.query, sub, rightSkip, pit ? j.maxAge : null, aliases, tables, needed, steps, outputs, names, byGroup);
    }
  }

  // --- serialization -------------------------------------------------------------------------------

  /**
   * The JSON-able description feature views store (the Python client's {@code Query.to_dict}).
   *
   * @return {@code {"left": {"id", "name", "version", "features"}, "joins": [...], "filter": ...}}
   */
  public Map<String, Object> toMap() {
    Map<String, Object> left = new LinkedHashMap<>();
    left.put("id", fg.id());
    left.put("name", fg.name());
    left.put("version", fg.version());
    left.put("features", features());
    List<Object> js = new ArrayList<>();
    for (Join j : joins) {
      Map<String, Object> m = new LinkedHashMap<>();
      m.put("query", j.query.toMap());
      m.put("left_on", j.leftOn);
      m.put("right_on", j.rightOn);
      m.put("join_type", j.joinType);
      m.put("prefix", j.prefix);
      m.put("max_age_seconds", j.maxAge == null ? null : j.maxAge.toNanos() / 1e9);
      js.add(m);
    }
    Map<String, Object> out = new LinkedHashMap<>();
    out.put("left", left);
    out.put("joins", js);
    out.put("filter", filter == null ? null : filter.toMap());
    return out;
  }

  static Query fromJson(JsonNode data, Map<String, FeatureGroup> groups) {
    JsonNode left = data.path("left");
    FeatureGroup g = groups.get(left.path("name").asText() + "/" + left.path("version").asInt());
    Query q = new Query(g, Json.strings(left, "features"));
    for (JsonNode j : data.path("joins")) {
      JsonNode age = j.get("max_age_seconds");
      Duration maxAge = age == null || age.isNull() ? null
          : Duration.ofNanos(Math.round(age.asDouble() * 1e9));
      q.joins.add(new Join(fromJson(j.path("query"), groups), Json.strings(j, "left_on"), Json.strings(j, "right_on"),
          j.path("join_type").asText("left"), Json.str(j, "prefix"), maxAge));
    }
    JsonNode f = data.get("filter");
    if (f != null && f.isObject()) {
      Map<String, FeatureGroup> byName = new LinkedHashMap<>();
      for (FeatureGroup x : q.groups()) {
        byName.put(x.name() + "/" + x.version(), x);
      }
      q.filter = Filter.fromMap(Json.toMap(f), byName);
    }
    return q;
  }

  @Override
  public String toString() {
    return "Query(" + fg.name() + " v" + fg.version() + ", joins=" + joins.size() + ")";
  }
}
