package dev.larder.errors;

import java.util.Map;

/** Client-side configuration is wrong or incomplete (never sent over the wire). */
public class ConfigurationException extends LarderException {
  private static final long serialVersionUID = 1L;

  /**
   * Creates the exception.
   *
   * @param message what was wrong, with which value, and what to do (never a secret)
   * @param details machine-readable context (names, values, limits), never secrets; may be null
   */
  public ConfigurationException(String message, Map<String, Object> details) {
    super(message, details);
  }

  /**
   * Creates the exception without details.
   *
   * @param message what was wrong, with which value, and what to do (never a secret)
   */
  public ConfigurationException(String message) {
    super(message, null);
  }

  @Override
  public String errorCode() {
    return "configuration_error";
  }

  @Override
  public int httpStatus() {
    return 400;
  }
}
