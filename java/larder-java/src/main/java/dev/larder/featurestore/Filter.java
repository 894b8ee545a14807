package dev.larder.featurestore;

import dev.larder.errors.InvalidArgumentException;
import java.time.Instant;
import java.time.LocalDate;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * A condition on features, as the Python client's filters ({@code fg.temp > 10}), serialized the same
 * way into feature views. Build with the static methods and combine with {@link #and(Filter)}, {@link
 * #or(Filter)} and {@link #not()}.
 *
 * <pre>{@code
 * Filter cold = Filter.lt(weather, "temp", 0).and(Filter.eq(flights, "origin", "JFK"));
 * Query q = flights.selectAll().join(weather.select("temp")).filter(cold);
 * }</pre>
 */
public final class Filter {
  private static final Set<String> OPS = Set.of("=", "<>", "<", "<=", ">", ">=", "IN", "LIKE", "IS NULL",
      "IS NOT NULL");

  final FeatureGroup group;
  final String feature;
  final String op;
  final Object value;
  final String logic;
  final Filter left;
  final Filter right;

  private Filter(FeatureGroup group, String feature, String op, Object value, String logic, Filter left,
      Filter right) {
    this.group = group;
    this.feature = feature;
    this.op = op;
    this.value = value;
    this.logic = logic;
    this.left = left;
    this.right = right;
  }

  /**
   * A comparison.
   *
   * @param fg the feature group the feature belongs to
   * @param feature the feature name
   * @param op {@code =}, {@code <>}, {@code <}, {@code <=}, {@code >}, {@code >=}, {@code IN}, {@code
   *     LIKE}, {@code IS NULL} or {@code IS NOT NULL}
   * @param value a String, Number, Boolean, {@link Instant}, {@link LocalDate}, a List (for {@code
   *     IN}) or null
   * @return the filter
   * @throws InvalidArgumentException on an unknown operator or feature
   */
  public static Filter of(FeatureGroup fg, String feature, String op, Object value) {
    if (!OPS.contains(op)) {
      throw new InvalidArgumentException("Unknown filter operator '" + op + "'; use one of " + OPS + ".",
          Map.of("op", op));
    }
    fg.getFeature(feature);
    if (op.equals("IN") && !(value instanceof List<?> l && !l.isEmpty())) {
      throw new InvalidArgumentException("IN on '" + feature + "' needs a non-empty list of values.");
    }
    return new Filter(fg, feature, op, value, null, null, null);
  }

  /** @param fg group @param feature name @param value value @return {@code feature = value} */
  public static Filter eq(FeatureGroup fg, String feature, Object value) {
    return of(fg, feature, "=", value);
  }

  /** @param fg group @param feature name @param value value @return {@code feature <> value} */
  public static Filter ne(FeatureGroup fg, String feature, Object value) {
    return of(fg, feature, "<>", value);
  }

  /** @param fg group @param feature name @param value value @return {@code feature < value} */
  public static Filter lt(FeatureGroup fg, String feature, Object value) {
    return of(fg, feature, "<", value);
  }

  /** @param fg group @param feature name @param value value @return {@code feature <= value} */
  public static Filter le(FeatureGroup fg, String feature, Object value) {
    return of(fg, feature, "<=", value);
  }

  /** @param fg group @param feature name @param value value @return {@code feature > value} */
  public static Filter gt(FeatureGroup fg, String feature, Object value) {
    return of(fg, feature, ">", value);
  }

  /** @param fg group @param feature name @param value value @return {@code feature >= value} */
  public static Filter ge(FeatureGroup fg, String feature, Object value) {
    return of(fg, feature, ">=", value);
  }

  /** @param fg group @param feature name @param values values @return {@code feature IN (values)} */
  public static Filter isin(FeatureGroup fg, String feature, List<?> values) {
    return of(fg, feature, "IN", values);
  }

  /** @param other another condition @return both */
  public Filter and(Filter other) {
    return new Filter(null, null, null, null, "AND", this, other);
  }

  /** @param other another condition @return either */
  public Filter or(Filter other) {
    return new Filter(null, null, null, null, "OR", this, other);
  }

  /** @return the negation */
  public Filter not() {
    return new Filter(null, null, null, null, "NOT", this, null);
  }

  /** @return whether this is a comparison (else a logical combination) */
  public boolean isComparison() {
    return logic == null;
  }

  /** @return the feature group of a comparison (null for AND/OR/NOT) */
  public FeatureGroup group() {
    return group;
  }

  /** @return the feature of a comparison */
  public String feature() {
    return feature;
  }

  /** @return the operator of a comparison */
  public String op() {
    return op;
  }

  /** @return the value of a comparison ({@link Instant}s for timestamps) */
  public Object value() {
    return value;
  }

  /** @return {@code "AND"}, {@code "OR"}, {@code "NOT"}, or null for a comparison */
  public String logic() {
    return logic;
  }

  /** @return the left (or only) operand of AND/OR/NOT */
  public Filter left() {
    return left;
  }

  /** @return the right operand of AND/OR (null for NOT) */
  public Filter right() {
    return right;
  }

  /** @return every comparison in it */
  public List<Filter> comparisons() {
    if (logic == null) {
      return List.of(this);
    }
    List<Filter> out = new ArrayList<>(left.comparisons());
    if (right != null) {
      out.addAll(right.comparisons());
    }
    return Collections.unmodifiableList(out);
  }

  Map<String, Object> toMap() {
    Map<String, Object> m = new LinkedHashMap<>();
    if (logic != null) {
      m.put("logic", logic);
      m.put("left", left.toMap());
      m.put("right", right == null ? null : right.toMap());
      return m;
    }
    m.put("feature", feature);
    m.put("group", List.of(group.name(), group.version()));
    m.put("op", op);
    m.put("value", valueToJson(value));
    return m;
  }

  private static Object valueToJson(Object v) {
    if (v instanceof Instant i) {
      return Map.of("$ts", i.atOffset(java.time.ZoneOffset.UTC).toString());
    }
    if (v instanceof LocalDate d) {
      return Map.of("$date", d.toString());
    }
    if (v instanceof List<?> l) {
      List<Object> out = new ArrayList<>();
      l.forEach(x -> out.add(valueToJson(x)));
      return out;
    }
    return v;
  }

  private static Object valueFromJson(Object v) {
    if (v instanceof Map<?, ?> m && m.containsKey("$ts")) {
      return FeatureGroup.parseTime(String.valueOf(m.get("$ts")));
    }
    if (v instanceof Map<?, ?> m && m.containsKey("$date")) {
      return LocalDate.parse(String.valueOf(m.get("$date")));
    }
    if (v instanceof List<?> l) {
      List<Object> out = new ArrayList<>();
      l.forEach(x -> out.add(valueFromJson(x)));
      return out;
    }
    return v;
  }

  @SuppressWarnings("unchecked")
  static Filter fromMap(Map<String, Object> d, Map<String, FeatureGroup> groups) {
    if (d.containsKey("logic")) {
      Object r = d.get("right");
      return new Filter(null, null, null, null, (String) d.get("logic"),
          fromMap((Map<String, Object>) d.get("left"), groups),
          r == null ? null : fromMap((Map<String, Object>) r, groups));
    }
    List<Object> g = (List<Object>) d.get("group");
    FeatureGroup fg = groups.get(g.get(0) + "/" + ((Number) g.get(1)).intValue());
    return new Filter(fg, (String) d.get("feature"), (String) d.get("op"), valueFromJson(d.get("value")), null,
        null, null);
  }

  @Override
  public String toString() {
    if (logic == null) {
      return "Filter(" + group.name() + "." + feature + " " + op + " " + value + ")";
    }
    return "Filter(" + logic + ", " + left + (right == null ? "" : ", " + right) + ")";
  }
}
