package dev.larder.internal;

import dev.larder.errors.InvalidArgumentException;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.regex.Pattern;

/** Name rules, the same as the platform's ({@code larder.names}). Internal. */
public final class Names {
  private Names() {}

  private static final String STORAGE_RULE =
      "2-63 characters: lowercase letters, digits, '_' or '-', starting with a letter";
  private static final String FG_RULE =
      "1-63 characters: lowercase letters, digits or '_', starting with a letter";
  private static final Map<String, String[]> RULES = new LinkedHashMap<>();

  static {
    RULES.put("user", new String[] {"^[a-z][a-z0-9_-]{1,31}$",
        "2-32 characters: lowercase letters, digits, '_' or '-', starting with a letter"});
    RULES.put("project", new String[] {"^[a-z][a-z0-9_]{1,62}$",
        "2-63 characters: lowercase letters, digits or '_', starting with a letter"});
    RULES.put("namespace", new String[] {"^[a-z][a-z0-9_-]{1,62}$", STORAGE_RULE});
    RULES.put("feature group", new String[] {"^[a-z][a-z0-9_]{0,62}$", FG_RULE});
    RULES.put("feature view", new String[] {"^[a-z][a-z0-9_]{0,62}$", FG_RULE});
    RULES.put("dataset", new String[] {"^[a-z][a-z0-9_-]{1,79}$",
        "2-80 characters: lowercase letters, digits, '_' or '-', starting with a letter"});
    RULES.put("model", new String[] {"^[a-z][a-z0-9_-]{1,62}$", STORAGE_RULE});
  }

  /**
   * Validates a name of a kind.
   *
   * @param kind "user", "project", "namespace", "feature group", "feature view", "dataset", "model"
   * @param value the candidate
   * @return the name, unchanged
   * @throws InvalidArgumentException when it does not match the kind's pattern
   */
  public static String check(String kind, String value) {
    String[] rule = RULES.get(kind);
    if (value == null || !Pattern.matches(rule[0], value)) {
      String shown = value == null ? "null"
          : value.length() <= 80 ? "'" + value + "'" : "'" + value.substring(0, 80) + "...'";
      Map<String, Object> d = new LinkedHashMap<>();
      d.put("kind", kind);
      d.put("value", value == null ? null : shown);
      d.put("pattern", rule[0]);
      throw new InvalidArgumentException("Invalid " + kind + " name " + shown + ": use " + rule[1] + ".", d);
    }
    return value;
  }

  /**
   * Validates an object key inside a dataset ({@code "raw/2024.csv"}).
   *
   * @param key the candidate
   * @param allowEmpty whether "" (the dataset root) is accepted
   * @return the key
   */
  public static String checkObjectKey(String key, boolean allowEmpty) {
    if (key == null) {
      throw new InvalidArgumentException("An object key must be a string such as 'raw/2024.csv', not null.");
    }
    if (key.isEmpty()) {
      if (allowEmpty) {
        return key;
      }
      throw new InvalidArgumentException("An object key must not be empty; use a path such as 'raw/2024.csv'.");
    }
    String problem = null;
    if (key.getBytes(StandardCharsets.UTF_8).length > 1024) {
      problem = "it is longer than 1024 bytes";
    } else if (key.startsWith("/")) {
      problem = "it starts with '/' (keys are relative to the dataset)";
    } else if (key.indexOf('\\') >= 0) {
      problem = "it contains a backslash (use '/')";
    } else if (key.chars().anyMatch(c -> c < 0x20 || c == 0x7f)) {
      problem = "it contains a control character";
    } else {
      String[] parts = key.split("/", -1);
      for (String p : parts) {
        if (p.isEmpty() || p.equals(".") || p.equals("..")) {
          problem = "it has an empty, '.' or '..' segment";
          break;
        }
      }
      if (problem == null && parts[parts.length - 1].startsWith(".larder-")) {
        problem = "names starting with '.larder-' are reserved for in-flight writes";
      }
    }
    if (problem != null) {
      String shown = key.length() <= 80 ? key : key.substring(0, 80) + "...";
      throw new InvalidArgumentException("Invalid object key '" + shown + "': " + problem + ".",
          Map.of("key", shown));
    }
    return key;
  }
}
