package dev.larder.errors;

import java.util.Map;

/** No API key could be resolved from any configured source; the message lists every place that was tried. */
public class ApiKeyNotFoundException extends ConfigurationException {
  private static final long serialVersionUID = 1L;

  /**
   * Creates the exception.
   *
   * @param message what was wrong, with which value, and what to do (never a secret)
   * @param details machine-readable context (names, values, limits), never secrets; may be null
   */
  public ApiKeyNotFoundException(String message, Map<String, Object> details) {
    super(message, details);
  }

  /**
   * Creates the exception without details.
   *
   * @param message what was wrong, with which value, and what to do (never a secret)
   */
  public ApiKeyNotFoundException(String message) {
    super(message, null);
  }

  @Override
  public String errorCode() {
    return "api_key_not_found";
  }

  @Override
  public int httpStatus() {
    return 400;
  }
}
