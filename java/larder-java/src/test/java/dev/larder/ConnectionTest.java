package dev.larder;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.larder.errors.ApiKeyNotFoundException;
import dev.larder.errors.AuthenticationException;
import dev.larder.errors.ConfigurationException;
import dev.larder.errors.ConnectionFailedException;
import dev.larder.errors.NotFoundException;
import dev.larder.testing.ChildJvm;
import dev.larder.testing.Probe;
import dev.larder.testing.TestPlatform;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.KeyStore;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The builder against a live platform: key sources, defaults, environment, TLS, certificates. */
class ConnectionTest {
  static final TestPlatform P = TestPlatform.get();
  static final ObjectMapper JSON = new ObjectMapper();

  @TempDir Path tmp;

  LarderConnection.Builder base() {
    return LarderConnection.builder().host(P.host()).port(P.port()).project(P.project()).trustStorePath(P.ca())
        .certFolder(tmp.resolve("certs").toString()).environment(Map.of());
  }

  static void assertNoSecret(String text, String... users) {
    for (String u : users) {
      String key = P.key(u);
      assertFalse(text.contains(key), "the key of " + u + " leaked: " + text);
      assertFalse(text.contains(key.split("\\.", 2)[1]), "the secret of " + u + " leaked: " + text);
    }
  }

  // --- key sources and their precedence -----------------------------------------------------------

  @Test
  void apiKeyValueWinsOverEverySource() {
    try (LarderConnection c = base().apiKeyValue(P.key("alice")).apiKeyFile(P.keyFile("bob"))
        .environment(Map.of("LARDER_API_KEY", P.key("carol"))).build()) {
      assertEquals(P.user("alice"), c.user());
      assertEquals("apiKeyValue", c.apiKeySource());
      assertEquals(P.project(), c.project());
      assertTrue(c.isConnected());
    }
  }

  @Test
  void apiKeyFileWinsOverEnvironment() {
    try (LarderConnection c = base().apiKeyFile(P.keyFile("bob"))
        .environment(Map.of("LARDER_API_KEY", P.key("carol"))).build()) {
      assertEquals(P.user("bob"), c.user());
      assertEquals("apiKeyFile " + P.keyFile("bob"), c.apiKeySource());
    }
  }

  @Test
  void environmentKeyAndTheWholePlatformEnvironment() {
    Map<String, String> env = Map.of("LARDER_HOST", P.host(), "LARDER_PORT", String.valueOf(P.port()),
        "LARDER_PROJECT", P.project(), "LARDER_API_KEY", P.key("carol"), "LARDER_TRUST_STORE", P.ca());
    try (LarderConnection c = LarderConnection.builder().environment(env)
        .certFolder(tmp.resolve("c").toString()).build()) {
      assertEquals(P.user("carol"), c.user());
      assertEquals("env LARDER_API_KEY", c.apiKeySource());
      assertEquals(P.port(), c.port());
      assertEquals(P.project(), c.project());
    }
    // LARDER_URL, with its project, when LARDER_HOST is unset; the only project needs no name at all
    Map<String, String> url = Map.of("LARDER_URL", "https://" + P.host() + ":" + P.port() + "/" + P.project(),
        "LARDER_API_KEY", P.key("dave"), "LARDER_TRUST_STORE", P.ca());
    try (LarderConnection c = LarderConnection.builder().environment(url).build()) {
      assertEquals(P.user("dave"), c.user());
      assertEquals(P.project(), c.project());
    }
  }

  @Test
  void theRealProcessEnvironmentIsRead() throws Exception {
    Map<String, String> env = Map.of("LARDER_HOST", P.host(), "LARDER_PORT", String.valueOf(P.port()),
        "LARDER_API_KEY", P.key("carol"), "LARDER_TRUST_STORE", P.ca(), "HOME", tmp.toString());
    JsonNode out = probe(env, List.of("-Duser.home=" + tmp), "builder");
    assertEquals(P.user("carol"), out.path("user").asText(), out.toString());
    assertEquals("env LARDER_API_KEY", out.path("source").asText());
    assertEquals(P.project(), out.path("project").asText(), "the key's only project");
    // Larder.connect(url): the key and the CA from the environment
    JsonNode viaUrl = probe(Map.of("LARDER_API_KEY", P.key("bob"), "LARDER_TRUST_STORE", P.ca()),
        List.of("-Duser.home=" + tmp), "url", "https://" + P.host() + ":" + P.port() + "/" + P.project());
    assertEquals(P.user("bob"), viaUrl.path("user").asText(), viaUrl.toString());
  }

  @Test
  void localCredentialsByHostAndPortThenHost() throws Exception {
    Path home = tmp.resolve("home");
    Path creds = home.resolve(".larder/credentials");
    Files.createDirectories(creds.getParent());
    Files.writeString(creds, "# written by larder login\n[" + P.host() + ":" + P.port() + "]\napi_key = "
        + P.key("dave") + "\n\n[" + P.host() + "]\napi_key = " + P.key("bob") + "\n");
    Files.setPosixFilePermissions(creds, PosixFilePermissions.fromString("rw-------"));
    JsonNode out = probe(Map.of("HOME", home.toString()), List.of("-Duser.home=" + home), "builder", P.host(),
        String.valueOf(P.port()), P.project(), P.ca());
    assertEquals(P.user("dave"), out.path("user").asText(), out.toString());
    assertEquals("local credentials " + creds + " [" + P.host() + ":" + P.port() + "]", out.path("source").asText());
    Files.writeString(creds, "[" + P.host() + "]\napi_key = " + P.key("bob") + "\n");
    out = probe(Map.of("HOME", home.toString()), List.of("-Duser.home=" + home), "builder", P.host(),
        String.valueOf(P.port()), P.project(), P.ca());
    assertEquals(P.user("bob"), out.path("user").asText(), out.toString());
  }

  Map<String, String> awsEnv(String role) {
    Map<String, String> env = new HashMap<>();
    env.put("HOME", tmp.toString());
    env.put("AWS_ENDPOINT_URL", P.str("/aws/endpoint"));
    env.put("AWS_DEFAULT_REGION", P.str("/aws/region"));
    env.put("AWS_EC2_METADATA_DISABLED", "true");
    env.put("AWS_CONFIG_FILE", tmp.resolve("no-aws-config").toString());
    env.put("AWS_SHARED_CREDENTIALS_FILE", tmp.resolve("no-aws-credentials").toString());
    if (role == null) { // an IAM user's static credentials
      env.put("AWS_ACCESS_KEY_ID", "testing");
      env.put("AWS_SECRET_ACCESS_KEY", "testing");
    } else {
      env.put("AWS_ACCESS_KEY_ID", P.str("/aws/roles/" + role + "/access_key_id"));
      env.put("AWS_SECRET_ACCESS_KEY", P.str("/aws/roles/" + role + "/secret_access_key"));
      env.put("AWS_SESSION_TOKEN", P.str("/aws/roles/" + role + "/session_token"));
    }
    return env;
  }

  JsonNode probeStore(String role, String store) throws Exception {
    return probe(awsEnv(role), List.of("-Duser.home=" + tmp), "builder", P.host(), String.valueOf(P.port()),
        P.project(), P.ca(), store);
  }

  @Test
  void secretsManagerUnderAnAssumedRole() throws Exception {
    String role = P.str("/aws/roles/secrets/role");
    JsonNode out = probeStore("secrets", "secretsmanager");
    assertEquals(P.user("erin"), out.path("user").asText(), out.toString());
    assertEquals("AWS Secrets Manager secret 'larder/role/" + role + "' (field 'api-key', role " + role
        + ", region eu-west-1)", out.path("source").asText());
  }

  @Test
  void parameterStoreUnderAnAssumedRole() throws Exception {
    String role = P.str("/aws/roles/params/role");
    JsonNode out = probeStore("params", "PARAMETER_STORE");
    assertEquals(P.user("frank"), out.path("user").asText(), out.toString());
    assertEquals("AWS SSM parameter '/larder/role/" + role + "/type/api-key' (role " + role + ", region eu-west-1)",
        out.path("source").asText());
  }

  @Test
  void awsStoresExplainWhatIsMissing() throws Exception {
    String role = P.str("/aws/roles/nokey/role");
    JsonNode out = probeStore("nokey", "secretsmanager");
    assertEquals("ApiKeyNotFoundException", out.path("error").asText(), out.toString());
    String msg = out.path("message").asText();
    assertTrue(msg.contains("secret 'larder/role/" + role + "'") && msg.contains("no such secret"), msg);
    assertTrue(msg.contains("1) apiKeyValue (not given)") && msg.contains("3) env LARDER_API_KEY (not set)"), msg);
    out = probeStore("nokey", "parameterstore");
    assertTrue(out.path("message").asText().contains("no such parameter"), out.toString());
    out = probeStore(null, "secretsmanager"); // an IAM user, not a role
    assertEquals("ConfigurationException", out.path("error").asText(), out.toString());
    assertTrue(out.path("message").asText().contains("not an assumed role"), out.toString());
  }

  @Test
  void noKeyAnywhereListsWhatWasTried() {
    ApiKeyNotFoundException e = assertThrows(ApiKeyNotFoundException.class, () -> {
      String home = System.getProperty("user.home");
      System.setProperty("user.home", tmp.toString());
      try {
        base().build();
      } finally {
        System.setProperty("user.home", home);
      }
    });
    String msg = e.getMessage();
    assertTrue(msg.startsWith("No API key found for the Larder platform " + P.host() + ":" + P.port()), msg);
    assertTrue(msg.contains("1) apiKeyValue (not given); 2) apiKeyFile (not given); 3) env LARDER_API_KEY (not set); "
        + "4) local credentials " + tmp.resolve(".larder/credentials")), msg);
    assertTrue(msg.contains("larder login --url https://" + P.host() + ":" + P.port()), msg);
    assertEquals("api_key_not_found", e.errorCode());
  }

  @Test
  void noHostIsAnErrorThatSaysWhatToSet() {
    ConfigurationException e = assertThrows(ConfigurationException.class,
        () -> LarderConnection.builder().environment(Map.of()).apiKeyValue(P.key("alice")).build());
    assertTrue(e.getMessage().contains(".host(") && e.getMessage().contains("LARDER_HOST")
        && e.getMessage().contains("LARDER_URL"), e.getMessage());
  }

  @Test
  void badArgumentsAreRefusedWithTheValueAndTheFix() {
    ConfigurationException url = assertThrows(ConfigurationException.class,
        () -> base().host("https://" + P.host()).apiKeyValue(P.key("alice")).build());
    assertTrue(url.getMessage().contains("looks like a URL"), url.getMessage());
    assertThrows(ConfigurationException.class, () -> LarderConnection.builder().port(70000));
    ConfigurationException missing = assertThrows(ConfigurationException.class,
        () -> base().apiKeyFile(tmp.resolve("nope.key").toString()).build());
    assertTrue(missing.getMessage().contains("nope.key does not exist"), missing.getMessage());
    assertThrows(ConfigurationException.class, () -> Larder.connect("http://" + P.host() + ":" + P.port()));
    ConfigurationException creds = assertThrows(ConfigurationException.class,
        () -> Larder.connect("https://alice:secret@" + P.host() + ":" + P.port()));
    assertFalse(creds.getMessage().contains("secret@"), creds.getMessage());
    assertThrows(ConfigurationException.class, () -> Larder.connect("https://h:1/a/b"));
    ConfigurationException store = assertThrows(ConfigurationException.class, () -> SecretsStore.of("vault"));
    assertTrue(store.getMessage().contains("'local', 'secretsmanager', 'parameterstore'"), store.getMessage());
    NotFoundException project = assertThrows(NotFoundException.class,
        () -> base().project("no_such_project").apiKeyValue(P.key("alice")).build());
    assertEquals(404, project.httpStatus());
  }

  @Test
  void unknownAndMalformedKeysAreRefusedWithoutLeakingThem() {
    String forged = P.key("alice").split("\\.")[0] + ".wrongsecretwrongsecret";
    AuthenticationException e = assertThrows(AuthenticationException.class,
        () -> base().apiKeyValue(forged).build());
    assertFalse(e.getMessage().contains("wrongsecret"), e.getMessage());
    ConfigurationException bad = assertThrows(ConfigurationException.class,
        () -> base().apiKeyValue("has a space").build());
    assertFalse(bad.getMessage().contains("has a space"), bad.getMessage());
    assertTrue(tmp.resolve("certs").toFile().list() == null || listRecursive(tmp.resolve("certs")).isEmpty(),
        "a failed connect leaves no certificate behind");
  }

  @Test
  void toStringNeverShowsTheKey() {
    LarderConnection.Builder b = base().apiKeyValue(P.key("alice")).trustStorePassword("changeit".toCharArray());
    assertNoSecret(b.toString(), "alice");
    assertFalse(b.toString().contains("changeit"));
    try (LarderConnection c = b.build()) {
      assertNoSecret(c.toString() + c.certificates() + c.apiKeySource(), "alice");
      assertTrue(c.toString().contains("project=" + P.project()), c.toString());
    }
  }

  // --- TLS ------------------------------------------------------------------------------------------

  @Test
  void untrustedCaIsRefusedWithBothFixes() {
    for (String trust : new String[] {P.str("/misnamed/ca"), null}) {
      LarderConnection.Builder b = base().apiKeyValue(P.key("alice")).trustStorePath(trust);
      ConnectionFailedException e = assertThrows(ConnectionFailedException.class, b::build);
      assertTrue(e.getMessage().startsWith("TLS verification failed for https://" + P.host() + ":" + P.port()),
          e.getMessage());
      assertTrue(e.getMessage().contains("trustStorePath(") && e.getMessage().contains("hostnameVerification(false)"),
          e.getMessage());
    }
    // another platform's CA stays refused without hostname verification: the chain is still checked
    assertThrows(ConnectionFailedException.class, () -> base().apiKeyValue(P.key("alice"))
        .trustStorePath(P.str("/misnamed/ca")).hostnameVerification(false).build());
  }

  @Test
  void certificateForAnotherHostIsRefusedUnlessHostnameVerificationIsOff() throws Exception {
    String adminKey = Files.readString(Path.of(P.str("/misnamed/admin_key_file"))).strip();
    LarderConnection.Builder b = LarderConnection.builder().host(P.host()).port(P.json().at("/misnamed/port").asInt())
        .project(P.str("/misnamed/project")).trustStorePath(P.str("/misnamed/ca")).apiKeyValue(adminKey)
        .certFolder(tmp.resolve("c").toString()).environment(Map.of());
    ConnectionFailedException e = assertThrows(ConnectionFailedException.class, b::build);
    assertTrue(e.getMessage().contains("127.0.0.1") && e.getMessage().contains("hostnameVerification(false)"),
        e.getMessage());
    try (LarderConnection c = b.hostnameVerification(false).build()) {
      assertEquals("admin", c.user());
    }
  }

  @Test
  void aConnectionIdleLongerThanTheServersKeepAliveDoesNotStall() throws Exception {
    try (LarderConnection c = base().apiKeyValue(P.key("alice")).build()) {
      c.getModelRegistry().getModelNames();
      Thread.sleep(6500); // the server (uvicorn) closes idle connections after 5 s
      long start = System.nanoTime();
      c.getModelRegistry().getModelNames();
      c.getFeatureStore().getFeatureView("weather_serving").getFeatureVector(Map.of("origin", "JFK"));
      double seconds = (System.nanoTime() - start) / 1e9;
      // the JDK's default (idle connections kept 1200 s) made this take ~28 s
      assertTrue(seconds < 10, "took " + seconds + " s after an idle pause");
    }
  }

  @Test
  void theServingFastPathVerifiesTheHostNameToo() {
    java.nio.file.Path ca = Path.of(P.str("/misnamed/ca"));
    String url = "https://" + P.host() + ":" + P.json().at("/misnamed/port").asInt();
    byte[] body = "{}".getBytes(java.nio.charset.StandardCharsets.UTF_8);
    dev.larder.internal.RestClient verifying = new dev.larder.internal.RestClient(url, null,
        dev.larder.internal.Tls.context(dev.larder.internal.Tls.loadTrustStore(ca, null), true),
        java.time.Duration.ofSeconds(10), "test", true);
    ConnectionFailedException e = assertThrows(ConnectionFailedException.class, () -> verifying.postFast("/version",
        body));
    assertTrue(e.getMessage().contains("hostnameVerification(false)"), e.getMessage());
    dev.larder.internal.RestClient chainOnly = new dev.larder.internal.RestClient(url, null,
        dev.larder.internal.Tls.context(dev.larder.internal.Tls.loadTrustStore(ca, null), false),
        java.time.Duration.ofSeconds(10), "test", false);
    // the request reaches the server, which refuses POST on /version
    assertThrows(dev.larder.errors.InvalidArgumentException.class, () -> chainOnly.postFast("/version", body));
  }

  @Test
  void pkcs12TrustStoreNeedsItsPassword() throws Exception {
    Path p12 = tmp.resolve("larder-truststore.p12");
    Process keytool = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "keytool").toString(),
        "-importcert", "-noprompt", "-alias", "larder-ca", "-file", P.ca(), "-keystore", p12.toString(),
        "-storetype", "PKCS12", "-storepass", "changeit").redirectErrorStream(true).start();
    assertEquals(0, keytool.waitFor());
    ConfigurationException e = assertThrows(ConfigurationException.class,
        () -> base().apiKeyValue(P.key("alice")).trustStorePath(p12.toString()).build());
    assertTrue(e.getMessage().contains("trustStorePassword("), e.getMessage());
    try (LarderConnection c = base().apiKeyValue(P.key("alice")).trustStorePath(p12.toString())
        .trustStorePassword("changeit".toCharArray()).build()) {
      assertEquals(P.user("alice"), c.user());
    }
  }

  // --- certificates and the life cycle ----------------------------------------------------------------

  static List<Path> listRecursive(Path p) {
    try (var s = Files.walk(p)) {
      return s.filter(x -> !x.equals(p)).toList();
    } catch (Exception e) {
      return List.of();
    }
  }

  @Test
  void certificateFilesArePrivateAndRemovedOnClose() throws Exception {
    Path root = tmp.resolve("certs");
    LarderConnection c = base().apiKeyValue(P.key("alice")).build();
    Certificates certs = c.certificates();
    Path folder = certs.folder();
    assertTrue(folder.startsWith(root.resolve(P.host()).resolve(P.project()).resolve(P.user("alice"))), folder.toString());
    assertTrue(folder.getFileName().toString().startsWith(ProcessHandle.current().pid() + "-"));
    List<String> names = new java.util.ArrayList<>();
    try (var s = Files.list(folder)) {
      s.forEach(f -> names.add(f.getFileName().toString()));
    }
    names.sort(null);
    assertEquals(List.of("ca_chain.pem", "client_cert.pem", "client_key.pem", "keyStore.p12", "material_passwd",
        "trustStore.p12"), names);
    for (Path f : listRecursive(folder)) {
      assertEquals("rw-------", PosixFilePermissions.toString(Files.getPosixFilePermissions(f)), f.toString());
    }
    for (Path d = folder; !d.equals(root); d = d.getParent()) {
      assertEquals("rwx------", PosixFilePermissions.toString(Files.getPosixFilePermissions(d)), d.toString());
    }
    KeyStore ks = KeyStore.getInstance("PKCS12");
    try (InputStream in = Files.newInputStream(certs.keyStore())) {
      ks.load(in, certs.password().toCharArray());
    }
    assertTrue(ks.size() >= 1);
    assertEquals(P.user("alice"), certs.user());
    assertTrue(certs.expiresAt().isAfter(java.time.Instant.now()));
    LarderConnection second = base().apiKeyValue(P.key("alice")).build();
    assertNotEquals(folder, second.certificates().folder(), "two connections never share files");
    second.close();
    c.close();
    assertFalse(Files.exists(folder), "close() removes the certificates");
    assertTrue(listRecursive(root).isEmpty(), "and the folders that became empty: " + listRecursive(root));
    assertThrows(ConfigurationException.class, c::certificates);
    ConfigurationException closed = assertThrows(ConfigurationException.class, c::getFeatureStore);
    assertTrue(closed.getMessage().contains("call connect() first"), closed.getMessage());
    c.close(); // twice is fine
    c.connect(); // and it opens again, with fresh certificates
    assertTrue(Files.exists(c.certificates().keyStore()));
    c.close();
  }

  @Test
  void sharedCertFolderGetsAPrivateFolderPerUser() throws Exception {
    Path shared = tmp.resolve("shared");
    Files.createDirectory(shared);
    Files.setPosixFilePermissions(shared, PosixFilePermissions.fromString("rwxrwxrwx"));
    try (LarderConnection c = base().certFolder(shared.toString()).apiKeyValue(P.key("alice")).build()) {
      Path own = shared.resolve("larder-" + new com.sun.security.auth.module.UnixSystem().getUid());
      assertTrue(c.certificates().folder().startsWith(own), c.certificates().folder().toString());
      assertEquals("rwx------", PosixFilePermissions.toString(Files.getPosixFilePermissions(own)));
    }
  }

  @Test
  void forgottenCloseIsCleanedAtJvmExit() throws Exception {
    JsonNode out = probe(Map.of("LARDER_API_KEY", P.key("carol"), "HOME", tmp.toString()),
        List.of("-Duser.home=" + tmp), "forget", P.host(), String.valueOf(P.port()), P.project(), P.ca());
    assertEquals(P.user("carol"), out.path("user").asText(), out.toString());
    Path folder = Path.of(out.path("cert_folder").asText());
    assertTrue(folder.startsWith(tmp.resolve(".larder/certs")), folder.toString());
    assertFalse(Files.exists(folder), "the JVM's exit removed the certificates close() would have");
  }

  JsonNode probe(Map<String, String> env, List<String> jvm, String... args) throws Exception {
    ChildJvm.Result r = ChildJvm.run(Probe.class, env, jvm, args);
    assertEquals(0, r.exit(), r.stderr());
    String[] lines = r.stdout().strip().split("\n");
    return JSON.readTree(lines[lines.length - 1]);
  }
}
