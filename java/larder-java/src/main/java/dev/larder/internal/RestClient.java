package dev.larder.internal;

import com.fasterxml.jackson.databind.JsonNode;
import dev.larder.errors.AlreadyExistsException;
import dev.larder.errors.AuthenticationException;
import dev.larder.errors.ConfigurationException;
import dev.larder.errors.ConflictException;
import dev.larder.errors.ConnectionFailedException;
import dev.larder.errors.InvalidArgumentException;
import dev.larder.errors.LarderException;
import dev.larder.errors.NotFoundException;
import dev.larder.errors.PayloadTooLargeException;
import dev.larder.errors.PermissionDeniedException;
import dev.larder.errors.ServerException;
import dev.larder.errors.ServiceUnavailableException;
import java.io.IOException;
import java.net.ConnectException;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpConnectTimeoutException;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.net.http.HttpTimeoutException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.Executors;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.atomic.AtomicInteger;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLException;
import javax.net.ssl.SSLHandshakeException;

/**
 * The REST session of a connection: one JDK {@link HttpClient} (HTTP/1.1 keep-alive), the {@code
 * Authorization: ApiKey <key>} header, retries of idempotent calls, and the platform's error bodies
 * mapped back to {@link LarderException}s. Its {@code toString} never shows the key. Internal.
 */
public final class RestClient implements AutoCloseable {
  private static final Set<String> IDEMPOTENT = Set.of("GET", "HEAD", "PUT", "DELETE");

  static {
    // The JDK HttpClient keeps idle connections 1200 s by default; the platform's server (uvicorn)
    // closes them after 5 s, and the JDK then stalls ~30 s on the dead connection before it retries
    // (measured: every request after 6.5 s idle took 28.5 s). Read once, when the first HttpClient
    // of the JVM is built: an application that sets it itself (-Djdk.httpclient.keepalive.timeout=...)
    // keeps its value.
    if (System.getProperty("jdk.httpclient.keepalive.timeout") == null) {
      System.setProperty("jdk.httpclient.keepalive.timeout", "4");
    }
  }
  private static final int RETRIES = 3;
  private static final AtomicInteger THREADS = new AtomicInteger();
  private static final java.util.concurrent.ConcurrentHashMap<ClientKey, HttpClient> CLIENTS =
      new java.util.concurrent.ConcurrentHashMap<>();

  /** One shared HttpClient per platform URL, TLS context (by identity) and timeout. */
  private record ClientKey(String baseUrl, SSLContext ssl, Duration timeout) {}
  private static final ThreadFactory DAEMONS = r -> {
    Thread t = new Thread(r, "larder-http-" + THREADS.incrementAndGet());
    t.setDaemon(true);
    return t;
  };

  private final String baseUrl;
  private final String apiUrl;
  private final String authorization;
  private final Duration timeout;
  private final HttpClient http;
  private final String userAgent;
  private final FastPost fast;

  /**
   * Creates the client.
   *
   * @param baseUrl e.g. {@code https://larder.example.com:8181} ({@code /api/v1} is appended)
   * @param apiKey the API key (null for public routes only)
   * @param ssl the TLS context
   * @param timeout connect and per-request timeout
   * @param userAgent the User-Agent header
   */
  public RestClient(String baseUrl, String apiKey, SSLContext ssl, Duration timeout, String userAgent) {
    this(baseUrl, apiKey, ssl, timeout, userAgent, true);
  }

  /**
   * Creates the client.
   *
   * @param baseUrl e.g. {@code https://larder.example.com:8181} ({@code /api/v1} is appended)
   * @param apiKey the API key (null for public routes only)
   * @param ssl the TLS context
   * @param timeout connect and per-request timeout
   * @param userAgent the User-Agent header
   * @param hostnameVerification whether {@code ssl} checks the host name (for the serving fast path)
   */
  public RestClient(String baseUrl, String apiKey, SSLContext ssl, Duration timeout, String userAgent,
      boolean hostnameVerification) {
    this.baseUrl = baseUrl.replaceAll("/+$", "");
    this.apiUrl = this.baseUrl + "/api/v1";
    this.authorization = apiKey == null ? null : "ApiKey " + apiKey;
    this.timeout = timeout;
    this.userAgent = userAgent;
    // connections to the same platform with the same TLS settings share one HttpClient and its
    // kept-alive connections: a reconnect (or a second connection) skips the TLS handshake
    this.http = CLIENTS.computeIfAbsent(new ClientKey(this.baseUrl, ssl, timeout),
        k -> HttpClient.newBuilder()
            .version(HttpClient.Version.HTTP_1_1)
            .sslContext(ssl)
            .connectTimeout(timeout)
            .followRedirects(HttpClient.Redirect.NEVER)
            // its own daemon threads: on the caller's thread (Runnable::run) a kept-alive connection the
            // server had closed was not noticed until the request timed out
            .executor(Executors.newCachedThreadPool(DAEMONS))
            .build());
    URI u = URI.create(this.baseUrl);
    String h = u.getHost().startsWith("[") ? u.getHost().substring(1, u.getHost().length() - 1) : u.getHost();
    this.fast = new FastPost(ssl, hostnameVerification, h, u.getPort() < 0 ? 443 : u.getPort(), timeout,
        authorization, userAgent);
  }

  /**
   * POSTs JSON on the serving fast path (kept-alive TLS sockets, a minimal HTTP/1.1 exchange); falls
   * back to {@link #send} (with its retries and explanations) when the connection fails.
   *
   * @param path the path under /api/v1
   * @param payload the JSON body
   * @return the decoded JSON
   */
  public JsonNode postFast(String path, byte[] payload) {
    return Json.parse(postFastRaw(path, payload), "POST " + path);
  }

  /**
   * Like {@link #postFast} but returns the raw JSON bytes of a 2xx answer.
   *
   * @param path the path under /api/v1
   * @param payload the JSON body
   * @return the body
   */
  public byte[] postFastRaw(String path, byte[] payload) {
    FastPost.Response r;
    try {
      r = fast.post("/api/v1" + path, payload);
    } catch (IOException e) {
      return exchange("POST", path, payload).body();
    }
    if (r.status() >= 400) {
      throw fromResponse(r.status(), r.body());
    }
    return r.body();
  }

  /** @return the platform's base URL, e.g. {@code https://host:8181} */
  public String baseUrl() {
    return baseUrl;
  }

  @Override
  public String toString() {
    return "RestClient(" + baseUrl + ")";
  }

  @Override
  public void close() {
    fast.close(); // the JDK 17 HttpClient has no close(); its threads end when idle
  }

  /**
   * URL-encodes query parameters; a list value repeats the parameter.
   *
   * @param params name to value (String, Number or List), null values skipped
   * @return {@code ?a=1&b=2}, or "" for none
   */
  public static String query(Map<String, ?> params) {
    StringBuilder sb = new StringBuilder();
    for (Map.Entry<String, ?> e : params.entrySet()) {
      if (e.getValue() == null) {
        continue;
      }
      List<?> values = e.getValue() instanceof List<?> l ? l : List.of(e.getValue());
      for (Object v : values) {
        sb.append(sb.length() == 0 ? '?' : '&')
            .append(URLEncoder.encode(e.getKey(), StandardCharsets.UTF_8))
            .append('=')
            .append(URLEncoder.encode(String.valueOf(v), StandardCharsets.UTF_8));
      }
    }
    return sb.toString();
  }

  /** @param path under /api/v1 @return the decoded JSON */
  public JsonNode get(String path) {
    return request("GET", path, null);
  }

  /** @param path under /api/v1 @param body a plain value @return the decoded JSON */
  public JsonNode post(String path, Object body) {
    return request("POST", path, body);
  }

  /** @param path under /api/v1 @param body a plain value @return the decoded JSON */
  public JsonNode put(String path, Object body) {
    return request("PUT", path, body);
  }

  /** @param path under /api/v1 @return the decoded JSON */
  public JsonNode delete(String path) {
    return request("DELETE", path, null);
  }

  /**
   * Sends a request to {@code /api/v1{path}}.
   *
   * @param method GET, POST, PUT or DELETE
   * @param path the path (with its query string)
   * @param body a plain value sent as JSON, or null
   * @return the decoded JSON ({@code NullNode} for 204)
   */
  public JsonNode request(String method, String path, Object body) {
    byte[] payload = body == null ? null : Json.bytes(body);
    return send(method, path, payload);
  }

  /**
   * Sends raw JSON bytes.
   *
   * @param method the method
   * @param path the path
   * @param payload the JSON body, or null
   * @return the decoded JSON
   */
  public JsonNode send(String method, String path, byte[] payload) {
    HttpResponse<byte[]> resp = exchange(method, path, payload);
    try {
      return Json.parse(resp.body());
    } catch (IOException e) {
      throw new ServerException("The platform answered " + method + " " + path + " with a body that is not "
          + "JSON (HTTP " + resp.statusCode() + ").", Map.of("status", resp.statusCode()));
    }
  }

  /**
   * Sends a request and returns the raw answer (an error status raises).
   *
   * @param method the method
   * @param path the path
   * @param payload the JSON body, or null
   * @return the response with a 2xx status
   */
  public HttpResponse<byte[]> exchange(String method, String path, byte[] payload) {
    HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(apiUrl + path))
        .timeout(timeout)
        .header("User-Agent", userAgent)
        .header("Accept", "application/json");
    if (authorization != null) {
      b.header("Authorization", authorization);
    }
    if (payload != null) {
      b.header("Content-Type", "application/json");
      b.method(method, HttpRequest.BodyPublishers.ofByteArray(payload));
    } else {
      b.method(method, HttpRequest.BodyPublishers.noBody());
    }
    HttpRequest req = b.build();
    boolean retry = IDEMPOTENT.contains(method);
    for (int attempt = 0; ; attempt++) {
      HttpResponse<byte[]> resp;
      try {
        resp = http.send(req, HttpResponse.BodyHandlers.ofByteArray());
      } catch (SSLHandshakeException e) {
        throw tlsFailure(e);
      } catch (SSLException e) {
        throw tlsFailure(e);
      } catch (HttpConnectTimeoutException e) {
        if (retry && attempt < RETRIES) {
          backoff(attempt);
          continue;
        }
        throw new ConnectionFailedException("Could not reach the Larder platform at " + baseUrl + ": the connection "
            + "timed out after " + timeout.toSeconds() + " s. Check the host and port, and that the server is running.",
            Map.of("url", baseUrl));
      } catch (HttpTimeoutException e) {
        throw new ConnectionFailedException("The Larder platform at " + baseUrl + " did not answer within "
            + timeout.toSeconds() + " s.", Map.of("url", baseUrl, "timeout_seconds", timeout.toSeconds()));
      } catch (IOException e) {
        SSLException ssl = sslCause(e);
        if (ssl != null) {
          throw tlsFailure(ssl);
        }
        if (attempt == 0 && staleConnection(e)) {
          // a kept-alive connection the server had closed (uvicorn closes idle ones after 5 s): the
          // request never reached it, so any method may be sent again, once
          continue;
        }
        if (retry && attempt < RETRIES) {
          backoff(attempt);
          continue;
        }
        throw new ConnectionFailedException("Could not reach the Larder platform at " + baseUrl + ": "
            + reason(e) + ". Check the host and port, and that the server is running.", Map.of("url", baseUrl));
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new ConnectionFailedException("Interrupted while calling the Larder platform at " + baseUrl + ".");
      }
      int status = resp.statusCode();
      if (retry && attempt < RETRIES && (status == 502 || status == 503 || status == 504)) {
        backoff(attempt);
        continue;
      }
      if (status >= 400) {
        throw fromResponse(status, resp.body());
      }
      return resp;
    }
  }

  private static void backoff(int attempt) {
    try {
      Thread.sleep((long) (200 * Math.pow(2, attempt)));
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  private static boolean staleConnection(Throwable e) {
    for (Throwable t = e; t != null; t = t.getCause()) {
      String m = String.valueOf(t.getMessage());
      if (t instanceof java.io.EOFException || m.contains("EOF reached") || m.contains("Connection reset")
          || m.contains("connection was closed") || m.contains("Broken pipe")) {
        return true;
      }
    }
    return false;
  }

  private static SSLException sslCause(Throwable e) {
    for (Throwable t = e; t != null; t = t.getCause()) {
      if (t instanceof SSLException s) {
        return s;
      }
    }
    return null;
  }

  private static String reason(Throwable e) {
    Throwable inner = e;
    while (inner.getCause() != null && inner.getCause() != inner) {
      inner = inner.getCause();
    }
    String msg = inner.getMessage();
    if (inner instanceof ConnectException && (msg == null || msg.isEmpty())) {
      msg = "connection refused";
    }
    String text = inner.getClass().getSimpleName() + (msg == null ? "" : ": " + msg);
    return text.length() > 300 ? text.substring(0, 300) : text;
  }

  private ConnectionFailedException tlsFailure(SSLException e) {
    return new ConnectionFailedException("TLS verification failed for " + baseUrl + ": " + reason(e)
        + ". If the platform uses its own CA, trust it with trustStorePath(\"/path/to/ca.pem\") (or the "
        + "environment variable LARDER_TRUST_STORE; a platform's CA is at <home>/tls/ca.pem); if the "
        + "certificate does not name this host, pass hostnameVerification(false).", Map.of("url", baseUrl));
  }

  /**
   * Rebuilds the exception a server answered with.
   *
   * @param status the HTTP status
   * @param body the raw body
   * @return the exception, by {@code error_code} (or by status)
   */
  public static LarderException fromResponse(int status, byte[] body) {
    JsonNode n = null;
    try {
      n = Json.parse(body);
    } catch (IOException ignored) {
      // not a Larder error body
    }
    if (n != null && n.isObject() && n.path("error_code").isTextual()) {
      String code = n.get("error_code").asText();
      String message = n.path("message").asText("HTTP " + status);
      Map<String, Object> details = Json.toMap(n.path("details"));
      return byCode(code, status, message, details);
    }
    String text = new String(body, StandardCharsets.UTF_8);
    text = text.length() > 500 ? text.substring(0, 500) : text;
    return byCode(null, status, ("The server answered HTTP " + status + ". " + text).trim(), Map.of("status", status));
  }

  private static LarderException byCode(String code, int status, String message, Map<String, Object> details) {
    if (code != null) {
      switch (code) {
        case "invalid_argument": return new InvalidArgumentException(message, details);
        case "unauthenticated": return new AuthenticationException(message, details);
        case "permission_denied": return new PermissionDeniedException(message, details);
        case "not_found": return new NotFoundException(message, details);
        case "already_exists": return new AlreadyExistsException(message, details);
        case "conflict": return new ConflictException(message, details);
        case "payload_too_large": return new PayloadTooLargeException(message, details);
        case "unavailable": return new ServiceUnavailableException(message, details);
        case "internal_error": return new ServerException(message, details);
        case "configuration_error": return new ConfigurationException(message, details);
        default: break;
      }
    }
    switch (status) {
      case 400: case 405: case 422: return new InvalidArgumentException(message, details);
      case 401: return new AuthenticationException(message, details);
      case 403: return new PermissionDeniedException(message, details);
      case 404: return new NotFoundException(message, details);
      case 409: return new ConflictException(message, details);
      case 413: return new PayloadTooLargeException(message, details);
      case 503: return new ServiceUnavailableException(message, details);
      default: return new ServerException(message, details);
    }
  }
}
