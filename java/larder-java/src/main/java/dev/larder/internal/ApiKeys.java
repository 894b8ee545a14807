package dev.larder.internal;

import dev.larder.SecretsStore;
import dev.larder.errors.ApiKeyNotFoundException;
import dev.larder.errors.ConfigurationException;
import dev.larder.errors.ConnectionFailedException;
import java.io.IOException;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermission;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Function;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import software.amazon.awssdk.auth.credentials.DefaultCredentialsProvider;
import software.amazon.awssdk.awscore.exception.AwsServiceException;
import software.amazon.awssdk.core.exception.SdkClientException;
import software.amazon.awssdk.core.exception.SdkException;
import software.amazon.awssdk.http.urlconnection.UrlConnectionHttpClient;
import software.amazon.awssdk.regions.Region;
import software.amazon.awssdk.regions.providers.DefaultAwsRegionProviderChain;
import software.amazon.awssdk.services.secretsmanager.SecretsManagerClient;
import software.amazon.awssdk.services.secretsmanager.model.ResourceNotFoundException;
import software.amazon.awssdk.services.ssm.SsmClient;
import software.amazon.awssdk.services.ssm.model.ParameterNotFoundException;
import software.amazon.awssdk.services.sts.StsClient;

/**
 * API-key resolution: an ordered chain of providers, the first key found wins (as botocore's
 * credentials and the Python client's {@code larder.client.apikey}). Keys never appear in messages,
 * logs or {@code toString}. Internal.
 */
public final class ApiKeys {
  private ApiKeys() {}

  /** The environment variable holding an API key. */
  public static final String ENV_API_KEY = "LARDER_API_KEY";

  private static final Pattern PRINTABLE = Pattern.compile("^[\\x21-\\x7e]+$");
  private static final Pattern ASSUMED_ROLE =
      Pattern.compile("^arn:aws[a-z-]*:sts::\\d{12}:assumed-role/([^/]+)/[^/]+$");
  private static final System.Logger LOG = System.getLogger("dev.larder.apikey");

  /** A key and where it came from; {@code toString} never shows the key. */
  public static final class Resolved {
    private final String key;
    private final String source;

    Resolved(String key, String source) {
      this.key = key;
      this.source = source;
    }

    /** @return the key */
    public String key() {
      return key;
    }

    /** @return where it was found, e.g. {@code "env LARDER_API_KEY"} */
    public String source() {
      return source;
    }

    @Override
    public String toString() {
      return "ResolvedApiKey(source=" + source + ")";
    }
  }

  /** One place a key may be found. */
  abstract static class Provider {
    String tried;

    /** @return the key or null */
    abstract String load();
  }

  static String checkKey(String key, String source) {
    key = key.strip();
    if (!key.isEmpty() && !PRINTABLE.matcher(key).matches()) {
      throw new ConfigurationException("The API key from " + source + " contains spaces or control characters; a "
          + "Larder API key is one line of visible characters ('<prefix>.<secret>'). Store the key alone in it.",
          Map.of("source", source));
    }
    return key;
  }

  static final class ValueProvider extends Provider {
    private final String value;

    ValueProvider(String value) {
      this.value = value;
    }

    @Override
    String load() {
      if (value == null) {
        tried = "apiKeyValue (not given)";
        return null;
      }
      String key = checkKey(value, "apiKeyValue");
      if (key.isEmpty()) {
        throw new ConfigurationException("apiKeyValue is empty; pass the API key or leave it unset.");
      }
      tried = "apiKeyValue";
      return key;
    }
  }

  static final class FileProvider extends Provider {
    private final Path path;

    FileProvider(String path) {
      this.path = path == null ? null : expand(path);
    }

    @Override
    String load() {
      if (path == null) {
        tried = "apiKeyFile (not given)";
        return null;
      }
      String source = "apiKeyFile " + path;
      String text;
      try {
        text = Files.readString(path, StandardCharsets.UTF_8);
      } catch (NoSuchFileException e) {
        throw new ConfigurationException("apiKeyFile " + path + " does not exist; pass the path of a file that "
            + "holds the API key.", Map.of("source", "apiKeyFile", "path", path.toString()));
      } catch (IOException e) {
        throw new ConfigurationException("Cannot read " + source + ": " + e.getClass().getSimpleName() + ".",
            Map.of("source", "apiKeyFile", "path", path.toString()));
      }
      String key = checkKey(text, source);
      if (key.isEmpty()) {
        throw new ConfigurationException(source + " is empty; write the API key into it.",
            Map.of("source", "apiKeyFile", "path", path.toString()));
      }
      tried = source;
      return key;
    }
  }

  static final class EnvProvider extends Provider {
    private final Function<String, String> env;

    EnvProvider(Function<String, String> env) {
      this.env = env;
    }

    @Override
    String load() {
      String source = "env " + ENV_API_KEY;
      String value = env.apply(ENV_API_KEY);
      String key = value == null || value.isBlank() ? "" : checkKey(value, source);
      tried = key.isEmpty() ? source + " (not set)" : source;
      return key.isEmpty() ? null : key;
    }
  }

  /** The local credentials file: {@code ~/.larder/credentials}. */
  public static Path credentialsPath() {
    return Path.of(System.getProperty("user.home"), ".larder", "credentials");
  }

  static final class LocalProvider extends Provider {
    private final String host;
    private final int port;
    private final Path path;

    LocalProvider(String host, int port, Path path) {
      this.host = host;
      this.port = port;
      this.path = path;
    }

    @Override
    String load() {
      List<String> sections = List.of(urlHost(host) + ":" + port, host);
      String wanted = "[" + sections.get(0) + "] or [" + sections.get(1) + "]";
      if (!Files.exists(path)) {
        tried = "local credentials " + path + " (no such file; create it with 'larder login')";
        return null;
      }
      try {
        Set<PosixFilePermission> perms = Files.getPosixFilePermissions(path);
        if (perms.stream().anyMatch(p -> !p.name().startsWith("OWNER"))) {
          LOG.log(System.Logger.Level.WARNING, path + " is readable by other users; restrict it with: chmod 600 "
              + path);
        }
      } catch (IOException | UnsupportedOperationException ignored) {
        // not a POSIX file system
      }
      Map<String, Map<String, String>> ini = readIni(path);
      for (String s : sections) {
        Map<String, String> sec = ini.get(s);
        if (sec != null) {
          String source = "local credentials " + path + " [" + s + "]";
          String key = checkKey(sec.getOrDefault("api_key", ""), source);
          if (!key.isEmpty()) {
            tried = source;
            return key;
          }
        }
      }
      tried = "local credentials " + path + " (no profile " + wanted + " with an api_key)";
      return null;
    }
  }

  static Map<String, Map<String, String>> readIni(Path path) {
    List<String> lines;
    try {
      lines = Files.readAllLines(path, StandardCharsets.UTF_8);
    } catch (IOException e) {
      throw new ConfigurationException("Cannot read " + path + ": " + e.getClass().getSimpleName() + ".",
          Map.of("path", path.toString()));
    }
    Map<String, Map<String, String>> out = new LinkedHashMap<>();
    Map<String, String> current = null;
    for (String raw : lines) {
      String line = raw.strip();
      if (line.isEmpty() || line.startsWith("#") || line.startsWith(";")) {
        continue;
      }
      if (line.startsWith("[") && line.endsWith("]")) {
        current = out.computeIfAbsent(line.substring(1, line.length() - 1).strip(), k -> new LinkedHashMap<>());
        continue;
      }
      int eq = line.indexOf('=');
      int colon = line.indexOf(':');
      int at = eq < 0 ? colon : colon < 0 ? eq : Math.min(eq, colon);
      if (current == null || at <= 0) {
        throw new ConfigurationException(path + " is not a valid credentials file; expected INI sections like "
            + "[host:port] with api_key = <key>. Rewrite it with 'larder login'.", Map.of("path", path.toString()));
      }
      current.put(line.substring(0, at).strip().toLowerCase(), line.substring(at + 1).strip());
    }
    return out;
  }

  /** AWS plumbing shared by the two AWS stores. */
  abstract static class AwsProvider extends Provider {
    final String store;
    final String regionName;
    final Function<String, String> env;
    Region region;
    String role;

    AwsProvider(String store, String regionName, Function<String, String> env) {
      this.store = store;
      this.regionName = regionName;
      this.env = env;
    }

    Region region() {
      if (regionName != null && !regionName.isBlank() && !regionName.equals("default")) {
        return Region.of(regionName);
      }
      for (String var : new String[] {"AWS_REGION", "AWS_DEFAULT_REGION"}) {
        String v = env.apply(var);
        if (v != null && !v.isBlank()) {
          return Region.of(v.strip());
        }
      }
      try {
        return DefaultAwsRegionProviderChain.builder().build().getRegion();
      } catch (SdkClientException e) {
        throw new ConfigurationException("secretsStore " + store + " with regionName 'default' uses the AWS SDK's "
            + "default region, and none is configured; set AWS_REGION or AWS_DEFAULT_REGION (or 'region' in "
            + "~/.aws/config) or pass regionName(\"eu-west-1\") (your region).", Map.of("secrets_store", store));
      }
    }

    <B extends software.amazon.awssdk.awscore.client.builder.AwsClientBuilder<B, C>
            & software.amazon.awssdk.core.client.builder.SdkSyncClientBuilder<B, C>, C>
        C client(B builder, String service) {
      builder.region(region)
          .credentialsProvider(DefaultCredentialsProvider.builder().build())
          .httpClientBuilder(UrlConnectionHttpClient.builder());
      String endpoint = env.apply("AWS_ENDPOINT_URL_" + service);
      if (endpoint == null || endpoint.isBlank()) {
        endpoint = env.apply("AWS_ENDPOINT_URL");
      }
      if (endpoint != null && !endpoint.isBlank()) {
        builder.endpointOverride(URI.create(endpoint.strip()));
      }
      return builder.build();
    }

    String where() {
      return "(secretsStore " + store + ", region " + region + (role != null ? ", role " + role + ")" : ")");
    }

    RuntimeException awsError(SdkException e, String what) {
      Map<String, Object> details = new LinkedHashMap<>();
      details.put("secrets_store", store);
      details.put("region", String.valueOf(region));
      details.put("role", role);
      if (e instanceof AwsServiceException a) {
        String code = a.awsErrorDetails() == null ? "Unknown" : a.awsErrorDetails().errorCode();
        String msg = a.awsErrorDetails() == null ? "" : a.awsErrorDetails().errorMessage();
        details.put("aws_error_code", code);
        return new ConfigurationException("AWS refused to " + what + " " + where() + ": " + code
            + (msg == null || msg.isEmpty() ? "" : ": " + msg) + ". Check that the role may read it.", details);
      }
      String m = String.valueOf(e.getMessage());
      if (m.contains("Unable to load credentials") || m.contains("credentials")) {
        return new ConfigurationException("No AWS credentials to " + what + " " + where() + ": run with an IAM role "
            + "(instance profile, SageMaker or Databricks role) or set AWS credentials, or pass apiKeyValue(...) / "
            + "apiKeyFile(...).", details);
      }
      if (m.contains("Unable to execute HTTP request") || m.contains("connect")) {
        return new ConnectionFailedException("Could not reach AWS to " + what + " " + where() + ": " + m + ".",
            details);
      }
      return new ConfigurationException("Could not " + what + " " + where() + ": " + e.getClass().getSimpleName()
          + ": " + m + ".", details);
    }

    String callerRole() {
      String arn;
      try (StsClient sts = client(StsClient.builder(), "STS")) {
        arn = sts.getCallerIdentity().arn();
      } catch (SdkException e) {
        throw awsError(e, "find the caller's IAM role with sts:GetCallerIdentity");
      }
      Matcher m = ASSUMED_ROLE.matcher(arn);
      if (!m.matches()) {
        throw new ConfigurationException("secretsStore " + store + " finds the API key by the IAM role the process "
            + "runs as, but the caller is " + arn + ", not an assumed role (arn:aws:sts::<account>:assumed-role/"
            + "<role>/<session>). Run with an IAM role (instance profile, SageMaker or Databricks role), or pass "
            + "apiKeyValue(...) / apiKeyFile(...).", Map.of("secrets_store", store, "region", region.id(),
            "caller_arn", arn));
      }
      role = m.group(1);
      return role;
    }
  }

  static final class SecretsManagerProvider extends AwsProvider {
    SecretsManagerProvider(String regionName, Function<String, String> env) {
      super("secretsmanager", regionName, env);
      tried = "AWS Secrets Manager";
    }

    @Override
    String load() {
      region = region();
      String r = callerRole();
      String name = "larder/role/" + r;
      String where = "AWS Secrets Manager secret '" + name + "' (field 'api-key', role " + r + ", region "
          + region + ")";
      String text;
      try (SecretsManagerClient sm = client(SecretsManagerClient.builder(), "SECRETS_MANAGER")) {
        text = sm.getSecretValue(b -> b.secretId(name)).secretString();
      } catch (ResourceNotFoundException e) {
        tried = where + ": no such secret";
        return null;
      } catch (SdkException e) {
        throw awsError(e, "read the secret '" + name + "'");
      }
      Map<String, Object> data = null;
      try {
        Object parsed = text == null ? null : Json.toJava(Json.mapper().readTree(text));
        if (parsed instanceof Map<?, ?>) {
          @SuppressWarnings("unchecked")
          Map<String, Object> m = (Map<String, Object>) parsed;
          data = m;
        }
      } catch (IOException ignored) {
        // not JSON
      }
      if (data == null) {
        throw new ConfigurationException("The " + where + " is not a JSON object; store it as {\"api-key\": \"<key>\"}.",
            Map.of("secret", name, "role", r, "region", region.id()));
      }
      Object value = data.get("api-key");
      if (!(value instanceof String s) || s.isBlank()) {
        List<String> fields = new ArrayList<>(data.keySet());
        fields.sort(null);
        throw new ConfigurationException("The " + where + " has no field 'api-key' (fields: "
            + (fields.isEmpty() ? "none" : String.join(", ", fields)) + "); store it as {\"api-key\": \"<key>\"}.",
            Map.of("secret", name, "role", r, "region", region.id(), "fields", fields));
      }
      tried = where;
      return checkKey(s, where);
    }
  }

  static final class ParameterStoreProvider extends AwsProvider {
    ParameterStoreProvider(String regionName, Function<String, String> env) {
      super("parameterstore", regionName, env);
      tried = "AWS SSM Parameter Store";
    }

    @Override
    String load() {
      region = region();
      String r = callerRole();
      String name = "/larder/role/" + r + "/type/api-key";
      String where = "AWS SSM parameter '" + name + "' (role " + r + ", region " + region + ")";
      String value;
      try (SsmClient ssm = client(SsmClient.builder(), "SSM")) {
        value = ssm.getParameter(b -> b.name(name).withDecryption(true)).parameter().value();
      } catch (ParameterNotFoundException e) {
        tried = where + ": no such parameter";
        return null;
      } catch (SdkException e) {
        throw awsError(e, "read the parameter '" + name + "'");
      }
      if (value == null || value.isBlank()) {
        throw new ConfigurationException("The " + where + " is empty.", Map.of("parameter", name, "role", r));
      }
      tried = where;
      return checkKey(value, where);
    }
  }

  /**
   * Resolves the key: apiKeyValue, apiKeyFile, env {@code LARDER_API_KEY}, then the secrets store.
   *
   * @param host the platform host (selects the local profile)
   * @param port the platform port
   * @param apiKeyValue a key given directly, or null
   * @param apiKeyFile a file holding the key, or null
   * @param store the secrets store
   * @param regionName the AWS region ("default": the SDK's default)
   * @param env the environment (System::getenv)
   * @return the key and its source
   * @throws ApiKeyNotFoundException when no source has a key (the message lists what was tried)
   */
  public static Resolved resolve(String host, int port, String apiKeyValue, String apiKeyFile, SecretsStore store,
      String regionName, Function<String, String> env) {
    Provider last;
    switch (store) {
      case SECRETS_MANAGER: last = new SecretsManagerProvider(regionName, env); break;
      case PARAMETER_STORE: last = new ParameterStoreProvider(regionName, env); break;
      default: last = new LocalProvider(host, port, credentialsPath()); break;
    }
    List<Provider> chain = List.of(new ValueProvider(apiKeyValue), new FileProvider(apiKeyFile),
        new EnvProvider(env), last);
    String target = urlHost(host) + ":" + port;
    List<String> tried = new ArrayList<>();
    for (Provider p : chain) {
      String key = p.load();
      if (key != null && !key.isEmpty()) {
        LOG.log(System.Logger.Level.DEBUG, "Using the API key from " + p.tried + " for " + target);
        return new Resolved(key, p.tried);
      }
      tried.add(p.tried);
    }
    StringBuilder listing = new StringBuilder();
    for (int i = 0; i < tried.size(); i++) {
      listing.append(i == 0 ? "" : "; ").append(i + 1).append(") ").append(tried.get(i));
    }
    throw new ApiKeyNotFoundException("No API key found for the Larder platform " + target + ". Tried, in order: "
        + listing + ". Pass apiKeyValue(...) or apiKeyFile(...) to the builder, set LARDER_API_KEY, or store a key "
        + "with 'larder login --url https://" + target + "'.", Map.of("target", target, "tried", tried));
  }

  static String urlHost(String host) {
    return host.contains(":") && !host.startsWith("[") ? "[" + host + "]" : host;
  }

  static Path expand(String p) {
    if (p.equals("~") || p.startsWith("~/")) {
      return Path.of(System.getProperty("user.home") + p.substring(1));
    }
    return Path.of(p);
  }
}
