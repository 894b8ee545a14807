package dev.larder.errors;

import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The base of every error Larder raises on purpose, on the client and (mapped back from the REST
 * API's {@code {"error_code", "message", "details"}} body) on the server.
 *
 * <p>Messages say what was wrong, with which value, and what to do. They never carry a secret (API
 * key, password, private key). The subclasses mirror the Python client's {@code larder.errors}.
 *
 * <pre>{@code
 * try {
 *   fs.getFeatureGroup("weather", 7);
 * } catch (NotFoundException e) {
 *   System.err.println(e.errorCode() + ": " + e.getMessage());   // not_found: ...
 * }
 * }</pre>
 */
public class LarderException extends RuntimeException {
  private static final long serialVersionUID = 1L;

  /** Machine-readable context; never secrets. */
  private final Map<String, Object> details;

  /**
   * Creates the exception.
   *
   * @param message what was wrong, with which value, and what to do (never a secret)
   * @param details machine-readable context (names, values, limits), never secrets; may be null
   */
  public LarderException(String message, Map<String, Object> details) {
    super(message);
    this.details =
        details == null
            ? Collections.emptyMap()
            : Collections.unmodifiableMap(new LinkedHashMap<>(details));
  }

  /**
   * A stable identifier of the kind of error, e.g. {@code "not_found"} (the REST API's {@code
   * error_code}).
   *
   * @return the error code
   */
  public String errorCode() {
    return "internal_error";
  }

  /**
   * The HTTP status the server answers this error with.
   *
   * @return the status, e.g. 404
   */
  public int httpStatus() {
    return 500;
  }

  /**
   * Machine-readable context of the error (never secrets).
   *
   * @return an unmodifiable map, empty when there is none
   */
  public Map<String, Object> details() {
    return details;
  }

  @Override
  public String toString() {
    return getClass().getSimpleName() + ": " + getMessage();
  }
}
