package dev.larder;

import com.fasterxml.jackson.databind.JsonNode;
import dev.larder.errors.ApiKeyNotFoundException;
import dev.larder.errors.AuthenticationException;
import dev.larder.errors.ConfigurationException;
import dev.larder.errors.ConnectionFailedException;
import dev.larder.errors.LarderException;
import dev.larder.errors.NotFoundException;
import dev.larder.featurestore.FeatureStore;
import dev.larder.internal.ApiKeys;
import dev.larder.internal.Names;
import dev.larder.internal.RestClient;
import dev.larder.internal.Tls;
import dev.larder.registry.ModelRegistry;
import dev.larder.storage.Namespace;
import dev.larder.storage.Storage;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.function.Function;
import javax.net.ssl.SSLContext;

/**
 * A connection to a Larder platform, the Java/Scala twin of the Python client's {@code
 * larder.connection(...)}: it resolves an API key, opens one HTTPS session, checks the server's
 * version, materializes the project's client certificates and hands out {@link FeatureStore}, {@link
 * ModelRegistry} and {@link Namespace} handles. It needs no Spark (see larder-spark for Datasets).
 *
 * <p>Build one with {@link #builder()} (or {@link Larder#connect(String)}); {@link Builder#build()}
 * connects at once. Unset options come from the environment the platform gives its jobs: {@code
 * LARDER_HOST}, {@code LARDER_PORT} (only with {@code LARDER_HOST}), {@code LARDER_URL} ({@code
 * https://host:port[/project]}, used when {@code LARDER_HOST} is unset), {@code LARDER_PROJECT},
 * {@code LARDER_API_KEY} and {@code LARDER_TRUST_STORE}. Unlike Python there is no embedded
 * platform: with no host anywhere, {@code build()} raises a {@link ConfigurationException} saying what
 * to set.
 *
 * <p>Connecting makes three REST calls ({@code GET /api/v1/version}, {@code GET
 * /api/v1/projects/{project}} or {@code GET /api/v1/projects}, and {@code GET
 * /api/v1/projects/{project}/credentials}). {@link #close()} deletes the certificate files. It is
 * thread-safe. {@code toString} shows host, port, project and user, never the key.
 *
 * <pre>{@code
 * try (LarderConnection conn = LarderConnection.builder()
 *         .host("larder.example.com").port(8181).project("fraud")
 *         .trustStorePath("/etc/larder/ca.pem")
 *         .apiKeyFile("/run/secrets/larder.key")
 *         .build()) {
 *   FeatureStore fs = conn.getFeatureStore();
 *   FeatureView fv = fs.getFeatureView("delays", 1);
 *   List<Object> vector = fv.getFeatureVector(Map.of("origin", "JFK"));
 * }
 * }</pre>
 */
public final class LarderConnection implements AutoCloseable {
  /** The client's version, e.g. {@code "0.1.0"}. */
  public static final String VERSION = "0.1.0";
  /** The REST API version this client speaks. */
  public static final String API_VERSION = "v1";
  /** The default HTTPS port. */
  public static final int DEFAULT_PORT = 443;
  static final String FEATURE_STORE_SUFFIX = "_featurestore";
  private static final System.Logger LOG = System.getLogger("dev.larder.connection");

  private final Builder config;
  private final Object lock = new Object();
  private volatile boolean connected;
  private RestClient rest;
  private Certificates certificates;
  private Thread cleanup;
  private String host;
  private int port;
  private String project;
  private String user;
  private String apiKeySource;
  private String serverVersion;
  private Storage storage;

  private LarderConnection(Builder config) {
    this.config = config.copy();
  }

  /**
   * A new builder with the Python connection's defaults: port 443, region "default", secrets store
   * {@link SecretsStore#LOCAL}, hostname verification on, certificates under {@code
   * ~/.larder/certs}, a 30 s timeout.
   *
   * @return the builder
   */
  public static Builder builder() {
    return new Builder();
  }

  // --- connect / close ---------------------------------------------------------------------------

  /**
   * Opens the connection (again, after {@link #close()}): a fresh key lookup and fresh certificates.
   * On an open connection it reconnects. A failed connect leaves the connection closed, with nothing
   * left on disk.
   *
   * @throws LarderException see {@link Builder#build()}
   */
  public void connect() {
    synchronized (lock) {
      if (connected) {
        close();
      }
      try {
        doConnect();
      } catch (RuntimeException | Error e) {
        teardown();
        throw e;
      }
      connected = true;
      LOG.log(System.Logger.Level.DEBUG, "Connected to " + url() + " project " + project + " as " + user);
    }
  }

  private String env(String name) {
    String v = config.env.apply(name);
    return v == null || v.isBlank() ? null : v.strip();
  }

  private void doConnect() {
    int p = checkPort(config.port, "port");
    String h;
    String proj = config.project;
    if (config.host != null) {
      h = checkHost(config.host, "host");
    } else if (env("LARDER_HOST") != null) {
      h = checkHost(env("LARDER_HOST"), "env LARDER_HOST");
      if (p == DEFAULT_PORT && env("LARDER_PORT") != null) {
        p = checkPort(env("LARDER_PORT"), "env LARDER_PORT");
      }
    } else if (env("LARDER_URL") != null) {
      Larder.Target t = Larder.parseUrl(env("LARDER_URL"), "env LARDER_URL");
      h = t.host;
      p = t.port;
      if (proj == null && env("LARDER_PROJECT") == null) {
        proj = t.project;
      }
    } else {
      throw new ConfigurationException("No Larder host: pass .host(\"larder.example.com\") and .port(8181) to "
          + "LarderConnection.builder(), set LARDER_HOST (and LARDER_PORT) or LARDER_URL=https://host:port/project "
          + "in the environment, or use Larder.connect(\"https://host:port/project\"). The embedded local platform "
          + "is a Python feature: start a server with 'larder server start' and point the connector at it.",
          Map.of("tried", List.of("host", "LARDER_HOST", "LARDER_URL")));
    }
    if (proj == null) {
      proj = env("LARDER_PROJECT");
    }
    if (proj != null) {
      Names.check("project", proj);
    }
    String trust = config.trustStorePath != null ? config.trustStorePath : env("LARDER_TRUST_STORE");
    if (trust != null) {
      Path tp = Path.of(trust.startsWith("~/") ? System.getProperty("user.home") + trust.substring(1) : trust);
      if (!Files.isRegularFile(tp)) {
        throw new ConfigurationException("trustStorePath " + tp + " does not exist; pass the platform's CA "
            + "certificate (PEM; a platform keeps it at <home>/tls/ca.pem).", Map.of("trust_store_path",
            tp.toString()));
      }
    }
    SSLContext ssl = trust == null ? Tls.cachedContext(null, null, config.hostnameVerification)
        : Tls.cachedContext(Path.of(trust.startsWith("~/") ? System.getProperty("user.home") + trust.substring(1)
            : trust), config.trustStorePassword, config.hostnameVerification);
    ApiKeys.Resolved key = ApiKeys.resolve(h, p, config.apiKeyValue, config.apiKeyFile, config.secretsStore,
        config.regionName, config.env);
    apiKeySource = key.source();
    host = h;
    port = p;
    rest = new RestClient("https://" + urlHost(h) + ":" + p, key.key(), ssl, config.timeout,
        "larder-java/" + VERSION, config.hostnameVerification);
    checkVersion(rest.get("/version"));
    project = resolveProject(proj);
    JsonNode creds = rest.get("/projects/" + project + "/credentials");
    certificates = Certificates.materialize(creds, h, config.certFolder);
    user = certificates.user();
    Certificates certs = certificates;
    cleanup = new Thread(certs::remove, "larder-cert-cleanup");
    Runtime.getRuntime().addShutdownHook(cleanup);
  }

  private void checkVersion(JsonNode body) {
    String server = body.path("version").asText("");
    String api = body.path("api_version").asText("");
    serverVersion = server.isEmpty() ? null : server;
    if (!api.isEmpty() && !api.equals(API_VERSION)) {
      LOG.log(System.Logger.Level.WARNING, "The Larder server at " + url() + " speaks REST API " + api
          + " but this client speaks " + API_VERSION + "; use dev.larder:larder-java:" + server + ".");
    } else if (!server.isEmpty() && !majorMinor(server).equals(majorMinor(VERSION))) {
      LOG.log(System.Logger.Level.WARNING, "The Larder server at " + url() + " runs version " + server
          + " but this client is " + VERSION + "; their major.minor versions differ, so some calls may fail. Use "
          + "dev.larder:larder-java:" + majorMinor(server) + ".x.");
    }
  }

  private static String majorMinor(String v) {
    String[] parts = v.split("\\+")[0].split("\\.");
    return parts.length >= 2 ? parts[0] + "." + parts[1] : parts[0];
  }

  private String resolveProject(String proj) {
    if (proj != null) {
      rest.get("/projects/" + proj);
      return proj;
    }
    JsonNode mine = rest.get("/projects");
    List<String> names = new ArrayList<>();
    mine.forEach(n -> names.add(n.path("name").asText()));
    if (names.size() == 1) {
      return names.get(0);
    }
    if (names.isEmpty()) {
      throw new ConfigurationException("No project given, and you are not a member of any project on " + url()
          + "; create one with 'larder project create NAME' or ask a data owner to add you, then pass "
          + ".project(...).", Map.of("projects", List.of()));
    }
    String shown = String.join(", ", names.subList(0, Math.min(10, names.size())))
        + (names.size() > 10 ? ", ..." : "");
    throw new ConfigurationException("No project given, and you are a member of " + names.size()
        + " projects on " + url() + " (" + shown + "); pass .project(...) or set LARDER_PROJECT.",
        Map.of("projects", names.subList(0, Math.min(50, names.size()))));
  }

  private void teardown() {
    if (certificates != null) {
      certificates.remove();
    }
    if (cleanup != null) {
      try {
        Runtime.getRuntime().removeShutdownHook(cleanup);
      } catch (IllegalStateException ignored) {
        // the JVM is exiting: the hook runs anyway
      }
    }
    if (rest != null) {
      rest.close();
    }
    rest = null;
    certificates = null;
    cleanup = null;
    storage = null;
    host = null;
    user = null;
    apiKeySource = null;
    serverVersion = null;
    project = null;
  }

  /**
   * Closes the connection: ends the HTTPS session and deletes the certificate files. Safe to call more
   * than once; {@link #connect()} opens it again.
   */
  @Override
  public void close() {
    synchronized (lock) {
      boolean was = connected;
      connected = false;
      teardown();
      if (was) {
        LOG.log(System.Logger.Level.DEBUG, "Closed the Larder connection");
      }
    }
  }

  // --- handles -----------------------------------------------------------------------------------

  private void requireConnected(String what) {
    if (!connected) {
      throw new ConfigurationException(what + " needs an open connection, and this one is closed; call connect() "
          + "first.", Map.of("operation", what));
    }
  }

  /**
   * The connection's project's feature store. Makes no REST call.
   *
   * @return the handle
   * @throws ConfigurationException when the connection is closed
   */
  public FeatureStore getFeatureStore() {
    return getFeatureStore(null);
  }

  /**
   * A feature store by name: the project's own, or one shared with it. Another project's is checked
   * once ({@code GET /projects/{name}/featurestore}).
   *
   * @param name {@code "<project>_featurestore"} or the project name; null: the connection's project
   * @return the handle
   * @throws NotFoundException when the project does not exist or is not shared with you
   */
  public FeatureStore getFeatureStore(String name) {
    synchronized (lock) {
      requireConnected("getFeatureStore()");
      String p = project;
      if (name != null) {
        p = name.endsWith(FEATURE_STORE_SUFFIX) ? name.substring(0, name.length() - FEATURE_STORE_SUFFIX.length())
            : name;
        Names.check("project", p);
        if (!p.equals(project)) {
          checkVisible(p, "feature store", "/projects/" + p + "/featurestore");
        }
      }
      return new FeatureStore(p + FEATURE_STORE_SUFFIX, p, this);
    }
  }

  /**
   * The connection's project's model registry. Makes no REST call.
   *
   * @return the handle
   */
  public ModelRegistry getModelRegistry() {
    return getModelRegistry(null);
  }

  /**
   * A project's model registry (the connection's, or one shared with it).
   *
   * @param otherProject the project; null: the connection's
   * @return the handle
   * @throws NotFoundException when the project does not exist or is not shared with you
   */
  public ModelRegistry getModelRegistry(String otherProject) {
    synchronized (lock) {
      requireConnected("getModelRegistry()");
      String target = otherProject == null ? project : Names.check("project", otherProject);
      if (!target.equals(project)) {
        checkVisible(target, "model registry", "/projects/" + target + "/models/_registry");
      }
      return new ModelRegistry(target, this);
    }
  }

  private void checkVisible(String p, String what, String path) {
    try {
      rest.get(path);
    } catch (NotFoundException e) {
      throw new NotFoundException("Cannot open the " + what + " of project '" + p + "': it does not exist, or it is "
          + "not shared with user '" + user + "'. Ask a data owner of '" + p + "' to add you.",
          Map.of("project", p, "user", String.valueOf(user)));
    }
  }

  /**
   * A namespace by name (a bucket or top folder on an object store holding datasets).
   *
   * @param name the namespace, e.g. {@code "default"}
   * @return the namespace
   * @throws NotFoundException when it does not exist
   */
  public Namespace getNamespace(String name) {
    return storage().getNamespace(name);
  }

  /**
   * Every namespace of the platform.
   *
   * @return the namespaces, by name
   */
  public List<Namespace> listNamespaces() {
    return storage().listNamespaces();
  }

  /**
   * Storage (namespaces, datasets, vended credentials) of this connection.
   *
   * @return the storage handle
   */
  public Storage storage() {
    synchronized (lock) {
      requireConnected("storage");
      if (storage == null) {
        storage = new Storage(rest);
      }
      return storage;
    }
  }

  /**
   * The REST session (for the larder-spark module and advanced use: paths are under {@code /api/v1}).
   *
   * @return the client
   * @throws ConfigurationException when the connection is closed
   */
  public RestClient restClient() {
    synchronized (lock) {
      requireConnected("restClient()");
      return rest;
    }
  }

  // --- facts ---------------------------------------------------------------------------------------

  /** @return true while the connection is open */
  public boolean isConnected() {
    return connected;
  }

  /** @return the platform's base URL, e.g. {@code https://larder.example.com:8181}, or null when closed */
  public String url() {
    return host == null ? null : "https://" + urlHost(host) + ":" + port;
  }

  /** @return the resolved host while connected, else the configured one (may be null) */
  public String host() {
    return connected ? host : config.host;
  }

  /** @return the resolved port while connected, else the configured one */
  public int port() {
    return connected ? port : config.port;
  }

  /** @return the resolved project while connected, else the configured one (may be null) */
  public String project() {
    return connected ? project : config.project;
  }

  /** @return the platform user the API key belongs to (null when closed) */
  public String user() {
    return user;
  }

  /** @return where the API key came from, e.g. {@code "env LARDER_API_KEY"} (never the key; null when closed) */
  public String apiKeySource() {
    return apiKeySource;
  }

  /** @return the platform's version from {@code GET /api/v1/version} (null when closed) */
  public String serverVersion() {
    return serverVersion;
  }

  /**
   * The paths of this connection's client certificate files.
   *
   * @return the certificates
   * @throws ConfigurationException when the connection is closed (the files are gone)
   */
  public Certificates certificates() {
    synchronized (lock) {
      requireConnected("certificates()");
      return certificates;
    }
  }

  @Override
  public String toString() {
    return "LarderConnection(host=" + host() + ", port=" + port() + ", project=" + project() + ", user=" + user
        + ", connected=" + connected + ")";
  }

  static String urlHost(String h) {
    return h.contains(":") && !h.startsWith("[") ? "[" + h + "]" : h;
  }

  static int checkPort(Object port, String source) {
    Object p = port;
    if (p instanceof String s && s.strip().matches("\\d{1,5}")) {
      p = Integer.parseInt(s.strip());
    }
    if (!(p instanceof Integer i) || i < 1 || i > 65535) {
      throw new ConfigurationException("Invalid port " + port + " from " + source + "; use a TCP port between 1 and "
          + "65535.", Map.of("port", String.valueOf(port), "source", source));
    }
    return i;
  }

  static String checkHost(String h, String source) {
    if (h == null || h.isBlank()) {
      throw new ConfigurationException("Invalid host '" + h + "' from " + source + "; pass a host name such as "
          + "'larder.example.com'.");
    }
    h = h.strip();
    if (h.contains("://") || h.contains("/")) {
      throw new ConfigurationException("host '" + h + "' (from " + source + ") looks like a URL; pass the host name "
          + "alone with .host(...) and .port(...), or use Larder.connect(\"https://host:port/project\").",
          Map.of("host", h, "source", source));
    }
    return h.startsWith("[") && h.endsWith("]") ? h.substring(1, h.length() - 1) : h;
  }

  // --- the builder ---------------------------------------------------------------------------------

  /**
   * Configures and opens a {@link LarderConnection}; the options and defaults are the Python
   * connection's. {@code toString} never shows the API key or the trust store password.
   *
   * <pre>{@code
   * LarderConnection conn = LarderConnection.builder()
   *     .host("larder.example.com")          // default: LARDER_HOST, then LARDER_URL
   *     .port(8181)                          // default 443 (LARDER_PORT with LARDER_HOST)
   *     .project("fraud")                    // default: LARDER_PROJECT, else your only project
   *     .secretsStore(SecretsStore.SECRETS_MANAGER).region("eu-west-1")
   *     .trustStorePath("ca.pem")            // default: LARDER_TRUST_STORE, else the JDK's CAs
   *     .build();
   * }</pre>
   */
  public static final class Builder {
    private String host;
    private int port = DEFAULT_PORT;
    private String project;
    private String regionName = "default";
    private SecretsStore secretsStore = SecretsStore.LOCAL;
    private boolean hostnameVerification = true;
    private String trustStorePath;
    private char[] trustStorePassword;
    private String certFolder;
    private String apiKeyFile;
    private String apiKeyValue;
    private Duration timeout = Duration.ofSeconds(30);
    private Function<String, String> env = System::getenv;

    private Builder() {}

    private Builder copy() {
      Builder b = new Builder();
      b.host = host;
      b.port = port;
      b.project = project;
      b.regionName = regionName;
      b.secretsStore = secretsStore;
      b.hostnameVerification = hostnameVerification;
      b.trustStorePath = trustStorePath;
      b.trustStorePassword = trustStorePassword == null ? null : trustStorePassword.clone();
      b.certFolder = certFolder;
      b.apiKeyFile = apiKeyFile;
      b.apiKeyValue = apiKeyValue;
      b.timeout = timeout;
      b.env = env;
      return b;
    }

    /**
     * @param host the platform's host name or IP, e.g. {@code "larder.example.com"} (not a URL).
     *     Default: {@code LARDER_HOST}, then the host of {@code LARDER_URL}.
     * @return this builder
     */
    public Builder host(String host) {
      this.host = host;
      return this;
    }

    /**
     * @param port the HTTPS port, 1-65535 (default 443; {@code LARDER_PORT} replaces the default when the
     *     host comes from {@code LARDER_HOST})
     * @return this builder
     * @throws ConfigurationException for a port outside 1-65535
     */
    public Builder port(int port) {
      checkPort(port, "port");
      this.port = port;
      return this;
    }

    /**
     * @param project the project to work in (default: {@code LARDER_PROJECT}, else your only project)
     * @return this builder
     */
    public Builder project(String project) {
      this.project = project;
      return this;
    }

    /**
     * @param regionName the AWS region of the AWS secrets stores (default {@code "default"}: {@code
     *     AWS_REGION}, {@code AWS_DEFAULT_REGION}, then the AWS SDK's default region chain)
     * @return this builder
     */
    public Builder region(String regionName) {
      this.regionName = regionName == null ? "default" : regionName;
      return this;
    }

    /**
     * @param store where the key is looked up after the value, the file and {@code LARDER_API_KEY}
     *     (default {@link SecretsStore#LOCAL})
     * @return this builder
     */
    public Builder secretsStore(SecretsStore store) {
      this.secretsStore = store == null ? SecretsStore.LOCAL : store;
      return this;
    }

    /**
     * @param verify check that the server certificate names the host (default true; false still
     *     verifies the certificate chain)
     * @return this builder
     */
    public Builder hostnameVerification(boolean verify) {
      this.hostnameVerification = verify;
      return this;
    }

    /**
     * @param path the CA to verify the server with: a PEM bundle (a platform keeps its CA at {@code
     *     <home>/tls/ca.pem}), or a PKCS#12/JKS trust store (then see {@link
     *     #trustStorePassword(char[])}). Default: {@code LARDER_TRUST_STORE}, else the JDK's public CAs.
     * @return this builder
     */
    public Builder trustStorePath(String path) {
      this.trustStorePath = path;
      return this;
    }

    /**
     * @param password the password of a PKCS#12/JKS {@link #trustStorePath(String)} (not needed for PEM)
     * @return this builder
     */
    public Builder trustStorePassword(char[] password) {
      this.trustStorePassword = password == null ? null : password.clone();
      return this;
    }

    /**
     * @param folder where the client certificates are written (default {@code ~/.larder/certs})
     * @return this builder
     */
    public Builder certFolder(String folder) {
      this.certFolder = folder;
      return this;
    }

    /**
     * @param path a file holding the API key; honoured whatever the secrets store is
     * @return this builder
     */
    public Builder apiKeyFile(String path) {
      this.apiKeyFile = path;
      return this;
    }

    /**
     * @param key the API key itself (takes precedence over every other source); never logged
     * @return this builder
     */
    public Builder apiKeyValue(String key) {
      this.apiKeyValue = key;
      return this;
    }

    /**
     * @param timeout connect and per-request timeout (default 30 s)
     * @return this builder
     */
    public Builder timeout(Duration timeout) {
      if (timeout == null || timeout.isNegative() || timeout.isZero()) {
        throw new ConfigurationException("timeout must be positive, got " + timeout + ".");
      }
      this.timeout = timeout;
      return this;
    }

    /**
     * Reads the environment from a map instead of {@code System.getenv} (for tests and embedding).
     *
     * @param environment variable name to value
     * @return this builder
     */
    public Builder environment(Map<String, String> environment) {
      Map<String, String> copy = Map.copyOf(environment);
      this.env = copy::get;
      return this;
    }

    /**
     * Connects.
     *
     * @return the open connection
     * @throws ConfigurationException no host anywhere, an invalid option, a broken key source
     * @throws ApiKeyNotFoundException no source had a key (the message lists what was tried)
     * @throws ConnectionFailedException the platform cannot be reached, or TLS verification failed
     *     (the message says how to fix it)
     * @throws AuthenticationException the platform refused the key
     * @throws NotFoundException the project does not exist or you are not a member
     */
    public LarderConnection build() {
      LarderConnection c = new LarderConnection(this);
      c.connect();
      return c;
    }

    @Override
    public String toString() {
      return "LarderConnection.Builder(host=" + host + ", port=" + port + ", project=" + project + ", secretsStore="
          + secretsStore + ", apiKeyValue=" + (apiKeyValue == null ? "null" : "***") + ", apiKeyFile=" + apiKeyFile
          + ", trustStorePath=" + trustStorePath + ", trustStorePassword="
          + (trustStorePassword == null ? "null" : "***") + ")";
    }
  }
}
