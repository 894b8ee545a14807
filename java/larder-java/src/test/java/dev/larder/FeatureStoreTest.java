package dev.larder;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.larder.errors.InvalidArgumentException;
import dev.larder.errors.NotFoundException;
import dev.larder.featurestore.Feature;
import dev.larder.featurestore.FeatureGroup;
import dev.larder.featurestore.FeatureStore;
import dev.larder.featurestore.FeatureView;
import dev.larder.featurestore.Query;
import dev.larder.testing.TestPlatform;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** Feature store metadata and online feature vectors, against what the Python client answers. */
class FeatureStoreTest {
  static final TestPlatform P = TestPlatform.get();
  static final ObjectMapper JSON = new ObjectMapper();
  static LarderConnection conn;
  static FeatureStore fs;

  @BeforeAll
  static void open() {
    conn = P.builder().apiKeyValue(P.key("bob")).build();
    fs = conn.getFeatureStore();
  }

  @AfterAll
  static void close() {
    conn.close();
  }

  /** JSON of the Python answer as plain Java values, compared with what the Java client returns. */
  static Object py(JsonNode n) throws Exception {
    return dev.larder.internal.Json.toJava(dev.larder.internal.Json.parse(JSON.writeValueAsBytes(n)));
  }

  @Test
  void featureGroupMetadata() {
    FeatureGroup w = fs.getFeatureGroup("weather", 1);
    assertEquals("weather", w.name());
    assertEquals(1, w.version());
    assertEquals(List.of("origin"), w.primaryKey());
    assertEquals("time_hour", w.eventTime());
    assertTrue(w.onlineEnabled());
    assertEquals("hourly weather at the origin airport", w.description());
    assertEquals(List.of("origin", "time_hour", "temp", "wind", "note"), w.featureNames());
    Map<String, String> types = new HashMap<>();
    for (Feature f : w.features()) {
      types.put(f.name(), f.type());
    }
    assertEquals("double", types.get("temp"));
    assertEquals("int64", types.get("wind"));
    assertTrue(types.get("time_hour").startsWith("timestamp[us, tz=UTC]"), types.get("time_hour"));
    assertTrue(w.getFeature("origin").primary() && w.getFeature("time_hour").eventTime());
    assertEquals(P.project() + "_featurestore", w.location().dataset());
    assertEquals("feature_groups/weather_1", w.location().path());
    assertEquals(P.user("alice"), w.createdBy());
    assertEquals(1, w.commits().size());
    assertEquals(0L, ((Number) w.commits().get(0).get("delta_version")).longValue());
    FeatureGroup latest = fs.getFeatureGroup("airports");
    assertEquals(List.of("faa"), latest.primaryKey());
    assertNull(latest.eventTime());
    assertTrue(fs.getFeatureGroups(null).size() >= 3);
    InvalidArgumentException unknown = assertThrows(InvalidArgumentException.class, () -> w.getFeature("nope"));
    assertTrue(unknown.getMessage().contains("[origin, time_hour, temp, wind, note]"), unknown.getMessage());
    NotFoundException nf = assertThrows(NotFoundException.class, () -> fs.getFeatureGroup("weather", 9));
    assertTrue(nf.getMessage().contains("weather"), nf.getMessage());
    assertThrows(InvalidArgumentException.class, () -> fs.getFeatureGroup("Bad Name"));
  }

  @Test
  void featureViewAndItsQueryPlanMatchPython() throws Exception {
    FeatureView fv = fs.getFeatureView("delays", 1);
    assertEquals(List.of("delayed"), fv.labels());
    Query.Plan plan = fv.query().plan();
    assertEquals(py(P.expected().at("/pit_query/columns")), plan.columns());
    assertEquals(2, plan.steps().size());
    Query.Step pit = plan.steps().get(0);
    assertEquals("time_hour", pit.leftTime());
    assertEquals(java.time.Duration.ofHours(12), pit.maxAge());
    assertNull(plan.steps().get(1).rightTime());
    assertEquals(py(P.expected().at("/training/columns")),
        concat(fv.featureColumns(plan.columns(), false, false), fv.labels()));
    // the same query built in Java has the same plan
    FeatureGroup flights = fs.getFeatureGroup("flights", 1);
    Query mine = flights.selectAll()
        .join(fs.getFeatureGroup("weather", 1).select("temp", "wind"), List.of("origin"), List.of("origin"), "left",
            null, java.time.Duration.ofHours(12))
        .join(fs.getFeatureGroup("airports", 1).select("alt"), List.of("dest"), List.of("faa"), "left", "dest_", null);
    assertEquals(plan.columns(), mine.plan().columns());
    assertEquals(JSON.readTree(JSON.writeValueAsBytes(fv.query().toMap())),
        JSON.readTree(JSON.writeValueAsBytes(mine.toMap())));
    assertThrows(InvalidArgumentException.class,
        () -> flights.selectAll().join(fs.getFeatureGroup("flights", 1).selectAll(), List.of("flight_id")).plan());
  }

  static List<String> concat(List<String> a, List<String> b) {
    List<String> out = new ArrayList<>(a);
    out.addAll(b);
    return out;
  }

  @Test
  void onlineVectorsEqualThePythonClients() throws Exception {
    FeatureView fv = fs.getFeatureView("weather_serving", 1);
    JsonNode v = P.expected().path("vectors");
    assertEquals(py(v.path("features")), fv.servingFeatures());
    for (String origin : List.of("EWR", "JFK", "LGA", "SFO")) {
      assertEquals(py(v.at("/single/" + origin)), fv.getFeatureVector(Map.of("origin", origin)), origin);
    }
    List<Map<String, Object>> entries = new ArrayList<>();
    for (String origin : List.of("EWR", "JFK", "LGA", "SFO")) {
      entries.add(Map.of("origin", origin));
    }
    assertEquals(py(v.path("batch")), fv.getFeatureVectors(entries));
    assertEquals(py(v.path("missing_allowed")),
        fv.getFeatureVectors(List.of(Map.of("origin", "JFK"), Map.of("origin", "NOPE")), null, true));
    List<Object> passed = fv.getFeatureVector(Map.of("origin", "EWR"), Map.of("wind", 99L), false);
    assertEquals(py(v.path("passed")), passed);
    Map<String, Object> byName = fv.getFeatureVectorAsMap(Map.of("origin", "JFK"));
    assertEquals(fv.servingFeatures(), new ArrayList<>(byName.keySet()));
    // a note with quotes and non-ASCII text survives the round trip
    assertTrue(String.valueOf(byName.get("note")).contains("\"quoted\" and ünïcode"), byName.toString());
  }

  @Test
  void vectorErrorsNameTheKey() {
    FeatureView fv = fs.getFeatureView("weather_serving");
    NotFoundException missing = assertThrows(NotFoundException.class,
        () -> fv.getFeatureVector(Map.of("origin", "NOPE")));
    assertTrue(missing.getMessage().contains("NOPE") && missing.getMessage().contains("allow_missing"),
        missing.getMessage());
    InvalidArgumentException noKey = assertThrows(InvalidArgumentException.class,
        () -> fv.getFeatureVector(Map.of("airport", "JFK")));
    assertTrue(noKey.getMessage().contains("origin"), noKey.getMessage());
    assertThrows(InvalidArgumentException.class, () -> fv.getFeatureVectors(List.of()));
  }

  @Test
  void sharedAndUnknownFeatureStores() {
    assertEquals(P.project() + "_featurestore", conn.getFeatureStore(P.project() + "_featurestore").name());
    NotFoundException e = assertThrows(NotFoundException.class, () -> conn.getFeatureStore("someone_else"));
    assertTrue(e.getMessage().contains("someone_else") && e.getMessage().contains(P.user("bob")), e.getMessage());
  }
}
