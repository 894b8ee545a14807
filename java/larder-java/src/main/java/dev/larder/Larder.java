package dev.larder;

import dev.larder.errors.ConfigurationException;
import dev.larder.errors.LarderException;
import java.net.URI;
import java.net.URISyntaxException;
import java.util.Map;

/**
 * Entry points, Hoss style: {@code Larder.connect("https://host:port/project")}.
 *
 * <pre>{@code
 * try (LarderConnection conn = Larder.connect("https://larder.example.com:8181/fraud", apiKey)) {
 *   System.out.println(conn.user());
 * }
 * // the key from LARDER_API_KEY or the local credentials, a private CA from LARDER_TRUST_STORE:
 * LarderConnection conn = Larder.connect("https://larder.example.com:8181/fraud");
 * // any other option through the builder:
 * LarderConnection conn2 = Larder.builder("https://larder.example.com:8181/fraud")
 *     .trustStorePath("ca.pem").secretsStore(SecretsStore.PARAMETER_STORE).build();
 * }</pre>
 */
public final class Larder {
  private Larder() {}

  static final class Target {
    final String host;
    final int port;
    final String project;

    Target(String host, int port, String project) {
      this.host = host;
      this.port = port;
      this.project = project;
    }
  }

  static Target parseUrl(String url, String source) {
    if (url == null) {
      throw new ConfigurationException("url must be a string such as 'https://host:8181/project', not null.");
    }
    URI u;
    try {
      u = new URI(url.strip());
    } catch (URISyntaxException e) {
      throw new ConfigurationException("Invalid URL '" + url + "' (" + source + "): " + e.getReason() + ".",
          Map.of("url", url));
    }
    if (u.getRawUserInfo() != null) {
      throw new ConfigurationException("Do not put credentials in the URL; pass the API key as the second argument "
          + "of Larder.connect(url, apiKey) or with apiKeyValue(...) instead.",
          Map.of("url", u.getScheme() + "://" + u.getHost()));
    }
    if (u.getScheme() == null || !u.getScheme().equalsIgnoreCase("https") || u.getHost() == null) {
      throw new ConfigurationException("Invalid URL '" + url + "' (" + source + "): use "
          + "https://<host>[:<port>][/<project>] (Larder connects over HTTPS only).", Map.of("url", url));
    }
    String path = u.getPath() == null ? "" : u.getPath().replaceAll("^/+|/+$", "");
    if (path.contains("/") || u.getRawQuery() != null || u.getRawFragment() != null) {
      throw new ConfigurationException("Invalid URL '" + url + "' (" + source + "): after the host and port only a "
          + "project name may follow, e.g. https://larder.example.com:8181/fraud.", Map.of("url", url));
    }
    String host = u.getHost();
    if (host.startsWith("[") && host.endsWith("]")) {
      host = host.substring(1, host.length() - 1);
    }
    return new Target(host, u.getPort() < 0 ? LarderConnection.DEFAULT_PORT : u.getPort(),
        path.isEmpty() ? null : path);
  }

  /**
   * A builder preset with the host, port and project of a URL.
   *
   * @param url {@code https://<host>[:<port>][/<project>]}; the port defaults to 443, the project to
   *     {@code LARDER_PROJECT}, else your only project
   * @return the builder; set any other option, then {@code build()}
   * @throws ConfigurationException when the URL is not {@code https://host[:port][/project]} or carries
   *     credentials
   */
  public static LarderConnection.Builder builder(String url) {
    Target t = parseUrl(url, "url");
    LarderConnection.Builder b = LarderConnection.builder().host(t.host).port(t.port);
    return t.project == null ? b : b.project(t.project);
  }

  /**
   * Connects from a URL; the key is looked up as the builder does ({@code LARDER_API_KEY}, then the
   * local credentials), a private CA is taken from {@code LARDER_TRUST_STORE}.
   *
   * @param url {@code https://<host>[:<port>][/<project>]}
   * @return the open connection
   * @throws LarderException see {@link LarderConnection.Builder#build()}
   */
  public static LarderConnection connect(String url) {
    return builder(url).build();
  }

  /**
   * Connects from a URL with an API key.
   *
   * @param url {@code https://<host>[:<port>][/<project>]}
   * @param apiKey the API key (null: looked up as the builder does)
   * @return the open connection
   * @throws LarderException see {@link LarderConnection.Builder#build()}
   */
  public static LarderConnection connect(String url, String apiKey) {
    return builder(url).apiKeyValue(apiKey).build();
  }
}
