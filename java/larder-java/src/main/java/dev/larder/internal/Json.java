package dev.larder.internal;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.NullNode;
import java.io.IOException;
import java.time.Instant;
import java.time.OffsetDateTime;
import java.time.ZonedDateTime;
import java.time.temporal.TemporalAccessor;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * JSON through Jackson, which is relocated into the larder-java jar: no Jackson type appears in the
 * public API (values come back as {@code Map}, {@code List}, {@code String}, {@code Long}, {@code
 * Double}, {@code Boolean} or {@code null}). Internal.
 */
public final class Json {
  private Json() {}

  private static final ObjectMapper MAPPER =
      new ObjectMapper().disable(SerializationFeature.FAIL_ON_EMPTY_BEANS);

  /** @return the shared mapper */
  public static ObjectMapper mapper() {
    return MAPPER;
  }

  /**
   * Parses JSON into a tree.
   *
   * @param data UTF-8 bytes
   * @return the tree ({@code NullNode} for empty input)
   * @throws IOException when the bytes are not JSON
   */
  public static JsonNode parse(byte[] data) throws IOException {
    if (data.length == 0) {
      return NullNode.getInstance();
    }
    return MAPPER.readTree(data);
  }

  /**
   * Serializes plain Java values (maps, lists, strings, numbers, booleans, nulls; temporal values
   * as ISO 8601 strings).
   *
   * @param value the value
   * @return UTF-8 JSON
   */
  public static byte[] bytes(Object value) {
    try {
      return MAPPER.writeValueAsBytes(plain(value));
    } catch (JsonProcessingException e) {
      throw new IllegalArgumentException("Cannot serialize to JSON: " + e.getOriginalMessage(), e);
    }
  }

  /** @param value a value @return its JSON text */
  public static String text(Object value) {
    try {
      return MAPPER.writeValueAsString(plain(value));
    } catch (JsonProcessingException e) {
      throw new IllegalArgumentException("Cannot serialize to JSON: " + e.getOriginalMessage(), e);
    }
  }

  private static Object plain(Object v) {
    if (v instanceof Instant || v instanceof OffsetDateTime || v instanceof ZonedDateTime) {
      return v.toString();
    }
    if (v instanceof TemporalAccessor) {
      return v.toString();
    }
    if (v instanceof Map<?, ?> m) {
      Map<Object, Object> out = new LinkedHashMap<>();
      m.forEach((k, x) -> out.put(k, plain(x)));
      return out;
    }
    if (v instanceof List<?> l) {
      List<Object> out = new ArrayList<>(l.size());
      for (Object x : l) {
        out.add(plain(x));
      }
      return out;
    }
    return v;
  }

  /**
   * A tree as plain Java values: objects as insertion-ordered {@code Map}s, arrays as {@code List}s,
   * integral numbers as {@code Long} (or {@code BigInteger} beyond it), others as {@code Double}.
   *
   * @param n the tree (may be null)
   * @return the value
   */
  public static Object toJava(JsonNode n) {
    if (n == null || n.isNull() || n.isMissingNode()) {
      return null;
    }
    if (n.isTextual()) {
      return n.textValue();
    }
    if (n.isBoolean()) {
      return n.booleanValue();
    }
    if (n.isIntegralNumber()) {
      return n.canConvertToLong() ? (Object) n.longValue() : n.bigIntegerValue();
    }
    if (n.isNumber()) {
      return n.doubleValue();
    }
    if (n.isArray()) {
      List<Object> out = new ArrayList<>(n.size());
      for (JsonNode x : n) {
        out.add(toJava(x));
      }
      return out;
    }
    if (n.isObject()) {
      Map<String, Object> out = new LinkedHashMap<>();
      Iterator<Map.Entry<String, JsonNode>> it = n.fields();
      while (it.hasNext()) {
        Map.Entry<String, JsonNode> e = it.next();
        out.put(e.getKey(), toJava(e.getValue()));
      }
      return out;
    }
    return n.asText();
  }

  /**
   * Parses JSON, raising a {@link dev.larder.errors.ServerException} that names the call when it is not JSON.
   *
   * @param data the bytes
   * @param what the call, e.g. {@code "POST /projects/p/..."}
   * @return the tree
   */
  public static JsonNode parse(byte[] data, String what) {
    try {
      return parse(data);
    } catch (IOException e) {
      throw new dev.larder.errors.ServerException("The platform answered " + what + " with a body that is not JSON.");
    }
  }

  /**
   * Reads a feature vector answer ({@code {"features": [...], "vectors": [[...], ...], ...}}) in one
   * streaming pass, without a tree: the serving hot path.
   *
   * @param data the body
   * @param features receives the feature names
   * @param vectors receives one list of plain values per vector
   */
  public static void readVectors(byte[] data, List<String> features, List<List<Object>> vectors) {
    try (com.fasterxml.jackson.core.JsonParser p = MAPPER.getFactory().createParser(data)) {
      if (p.nextToken() != com.fasterxml.jackson.core.JsonToken.START_OBJECT) {
        throw new IOException("not an object");
      }
      while (p.nextToken() == com.fasterxml.jackson.core.JsonToken.FIELD_NAME) {
        String field = p.currentName();
        com.fasterxml.jackson.core.JsonToken t = p.nextToken();
        if (field.equals("features") && t == com.fasterxml.jackson.core.JsonToken.START_ARRAY) {
          while (p.nextToken() != com.fasterxml.jackson.core.JsonToken.END_ARRAY) {
            features.add(p.getText());
          }
        } else if (field.equals("vectors") && t == com.fasterxml.jackson.core.JsonToken.START_ARRAY) {
          while (p.nextToken() == com.fasterxml.jackson.core.JsonToken.START_ARRAY) {
            List<Object> v = new ArrayList<>();
            for (com.fasterxml.jackson.core.JsonToken x = p.nextToken();
                x != com.fasterxml.jackson.core.JsonToken.END_ARRAY; x = p.nextToken()) {
              switch (x) {
                case VALUE_STRING: v.add(p.getText()); break;
                case VALUE_NUMBER_INT:
                  v.add(p.getNumberType() == com.fasterxml.jackson.core.JsonParser.NumberType.BIG_INTEGER
                      ? p.getBigIntegerValue() : (Object) p.getLongValue());
                  break;
                case VALUE_NUMBER_FLOAT: v.add(p.getDoubleValue()); break;
                case VALUE_TRUE: v.add(Boolean.TRUE); break;
                case VALUE_FALSE: v.add(Boolean.FALSE); break;
                case VALUE_NULL: v.add(null); break;
                default: v.add(toJava(MAPPER.readTree(p))); break; // a nested value
              }
            }
            vectors.add(v);
          }
        } else {
          p.skipChildren();
        }
      }
    } catch (IOException e) {
      throw new dev.larder.errors.ServerException("The platform's feature vector answer is not the expected JSON ("
          + e.getMessage() + ").");
    }
  }

  /** @param n an object node @return it as a map */
  @SuppressWarnings("unchecked")
  public static Map<String, Object> toMap(JsonNode n) {
    Object o = toJava(n);
    return o instanceof Map ? (Map<String, Object>) o : new LinkedHashMap<>();
  }

  /** @param n a node @param field a field @return its text, or null */
  public static String str(JsonNode n, String field) {
    JsonNode v = n.get(field);
    return v == null || v.isNull() ? null : v.asText();
  }

  /** @param n a node @param field a field @return its strings */
  public static List<String> strings(JsonNode n, String field) {
    List<String> out = new ArrayList<>();
    JsonNode v = n.get(field);
    if (v != null && v.isArray()) {
      for (JsonNode x : v) {
        out.add(x.asText());
      }
    }
    return out;
  }
}
