package dev.larder.errors;

import java.util.Map;

/** The API key is missing, unknown, expired or revoked (HTTP 401). */
public class AuthenticationException extends LarderException {
  private static final long serialVersionUID = 1L;

  /**
   * Creates the exception.
   *
   * @param message what was wrong, with which value, and what to do (never a secret)
   * @param details machine-readable context (names, values, limits), never secrets; may be null
   */
  public AuthenticationException(String message, Map<String, Object> details) {
    super(message, details);
  }

  /**
   * Creates the exception without details.
   *
   * @param message what was wrong, with which value, and what to do (never a secret)
   */
  public AuthenticationException(String message) {
    super(message, null);
  }

  @Override
  public String errorCode() {
    return "unauthenticated";
  }

  @Override
  public int httpStatus() {
    return 401;
  }
}
