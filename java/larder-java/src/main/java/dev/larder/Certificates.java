package dev.larder;

import com.fasterxml.jackson.databind.JsonNode;
import dev.larder.errors.ConfigurationException;
import dev.larder.errors.ServerException;
import dev.larder.internal.Json;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryNotEmptyException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.attribute.FileAttribute;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.SecureRandom;
import java.time.Instant;
import java.time.OffsetDateTime;
import java.util.Base64;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * The client certificate files of an open connection, as the Python client writes them:
 *
 * <pre>
 * &lt;certFolder&gt;/&lt;host&gt;/&lt;project&gt;/&lt;user&gt;/&lt;pid&gt;-&lt;random&gt;/
 *     ca_chain.pem      the platform CA (PEM)
 *     client_cert.pem   the client certificate (PEM)
 *     client_key.pem    its private key (PEM, PKCS#8, unencrypted)
 *     keyStore.p12      key + certificate + CA (PKCS#12)
 *     trustStore.p12    the CA (PKCS#12)
 *     material_passwd   the password of both PKCS#12 stores
 * </pre>
 *
 * <p>Folders are 0700 and files 0600; the last folder is unique per connection. The default {@code
 * certFolder} is {@code ~/.larder/certs}; a folder other users may write to (such as {@code /tmp})
 * gets a private {@code larder-<uid>} folder inside it first. {@link LarderConnection#close()}
 * deletes the folder (and its parents that became empty); so does JVM exit when {@code close()} was
 * forgotten. {@code toString} shows paths only, never the password.
 *
 * <pre>{@code
 * Certificates c = conn.certificates();
 * spark.conf().set("spark.ssl.keyStore", c.keyStore().toString());
 * spark.conf().set("spark.ssl.keyStorePassword", c.password());
 * }</pre>
 */
public final class Certificates {
  static final String CA_CHAIN = "ca_chain.pem";
  static final String CLIENT_CERT = "client_cert.pem";
  static final String CLIENT_KEY = "client_key.pem";
  static final String KEY_STORE = "keyStore.p12";
  static final String TRUST_STORE = "trustStore.p12";
  static final String PASSWORD_FILE = "material_passwd";
  private static final Set<PosixFilePermission> DIR = PosixFilePermissions.fromString("rwx------");
  private static final Set<PosixFilePermission> FILE = PosixFilePermissions.fromString("rw-------");
  private static final Pattern NAME = Pattern.compile("^[a-z][a-z0-9_-]{1,62}$");
  private static final SecureRandom RANDOM = new SecureRandom();

  private final Path folder;
  private final String user;
  private final String project;
  private final String serial;
  private final Instant expiresAt;

  private Certificates(Path folder, String user, String project, String serial, Instant expiresAt) {
    this.folder = folder;
    this.user = user;
    this.project = project;
    this.serial = serial;
    this.expiresAt = expiresAt;
  }

  /** @return the connection's private folder (0700) holding the files */
  public Path folder() {
    return folder;
  }

  /** @return the platform CA certificate chain, PEM */
  public Path caChain() {
    return folder.resolve(CA_CHAIN);
  }

  /** @return the client certificate, PEM */
  public Path clientCert() {
    return folder.resolve(CLIENT_CERT);
  }

  /** @return the client private key, PEM (PKCS#8, unencrypted; the file is 0600) */
  public Path clientKey() {
    return folder.resolve(CLIENT_KEY);
  }

  /** @return key + certificate + CA as PKCS#12, protected by {@link #password()} */
  public Path keyStore() {
    return folder.resolve(KEY_STORE);
  }

  /** @return the CA as a PKCS#12 trust store, protected by {@link #password()} */
  public Path trustStore() {
    return folder.resolve(TRUST_STORE);
  }

  /** @return the file holding the stores' password */
  public Path passwordFile() {
    return folder.resolve(PASSWORD_FILE);
  }

  /**
   * The password of {@link #keyStore()} and {@link #trustStore()}, read from {@link #passwordFile()}.
   * A secret: do not log it.
   *
   * @return the password
   * @throws ConfigurationException when the files are gone (the connection was closed)
   */
  public String password() {
    try {
      return Files.readString(passwordFile(), StandardCharsets.UTF_8);
    } catch (IOException e) {
      throw new ConfigurationException("The certificate files in " + folder + " are gone; the connection was "
          + "closed. Open a new connection.", Map.of("folder", folder.toString()));
    }
  }

  /** @return the platform user the certificate names */
  public String user() {
    return user;
  }

  /** @return the project the certificate names */
  public String project() {
    return project;
  }

  /** @return the certificate's serial number, hex */
  public String serial() {
    return serial;
  }

  /** @return when the certificate expires */
  public Instant expiresAt() {
    return expiresAt;
  }

  @Override
  public String toString() {
    return "Certificates(folder=" + folder + ", user=" + user + ", project=" + project + ")";
  }

  // --- writing and removing --------------------------------------------------------------------

  static long uid() {
    try {
      return new com.sun.security.auth.module.UnixSystem().getUid();
    } catch (Throwable e) {
      return -1;
    }
  }

  static Path defaultCertFolder() {
    Path larder = Path.of(System.getProperty("user.home"), ".larder");
    try {
      if (!Files.exists(larder)) {
        Files.createDirectories(larder, PosixFilePermissions.asFileAttribute(DIR));
      }
      if (Files.isWritable(larder)) {
        return larder.resolve("certs");
      }
    } catch (IOException | UnsupportedOperationException ignored) {
      // fall through to the temp folder
    }
    Path own = Path.of(System.getProperty("java.io.tmpdir"), "larder-" + uid());
    ownPrivateDir(own);
    return own.resolve("certs");
  }

  private static void ownPrivateDir(Path path) {
    try {
      Files.createDirectory(path, PosixFilePermissions.asFileAttribute(DIR));
    } catch (FileAlreadyExistsException ignored) {
      // checked below
    } catch (IOException e) {
      throw new ConfigurationException("Cannot create the certificate folder " + path + ": " + e.getMessage()
          + "; pass certFolder(...) (a folder you may write to).", Map.of("path", path.toString()));
    }
    try {
      Object owner = Files.getAttribute(path, "unix:uid", LinkOption.NOFOLLOW_LINKS);
      if (!Files.isDirectory(path, LinkOption.NOFOLLOW_LINKS) || ((Number) owner).longValue() != uid()) {
        throw new ConfigurationException(path + " exists but is not a folder owned by you (uid " + uid()
            + "); Larder will not put certificates there. Remove it, or pass certFolder(...) (a folder only you "
            + "may write to).", Map.of("path", path.toString()));
      }
      Files.setPosixFilePermissions(path, DIR);
    } catch (IOException e) {
      throw new ConfigurationException("Cannot check the certificate folder " + path + ": " + e.getMessage() + ".",
          Map.of("path", path.toString()));
    }
  }

  static Path privateRoot(String certFolder) {
    Path root = certFolder != null
        ? Path.of(certFolder.startsWith("~/") ? System.getProperty("user.home") + certFolder.substring(1) : certFolder)
        : defaultCertFolder();
    root = root.toAbsolutePath();
    long owner;
    Set<PosixFilePermission> perms;
    try {
      Files.createDirectories(root, PosixFilePermissions.asFileAttribute(DIR));
      owner = ((Number) Files.getAttribute(root, "unix:uid")).longValue();
      perms = Files.getPosixFilePermissions(root);
    } catch (IOException e) {
      throw new ConfigurationException("Cannot create the certificate folder " + root + ": " + e.getMessage()
          + "; pass certFolder(...) (a folder you may write to).", Map.of("cert_folder", root.toString()));
    }
    boolean othersWrite = perms.contains(PosixFilePermission.GROUP_WRITE)
        || perms.contains(PosixFilePermission.OTHERS_WRITE);
    if (owner == uid() && !othersWrite) {
      return root;
    }
    Path own = root.resolve("larder-" + uid());
    ownPrivateDir(own);
    return own;
  }

  private static String safeComponent(String value) {
    String cleaned = value.replaceAll("[^A-Za-z0-9._-]", "_");
    return cleaned.replace(".", "").isEmpty() ? cleaned.replace(".", "_") : cleaned;
  }

  private static void mkdirPrivate(Path p) throws IOException {
    try {
      Files.createDirectory(p, PosixFilePermissions.asFileAttribute(DIR));
      Files.setPosixFilePermissions(p, DIR);
    } catch (FileAlreadyExistsException ignored) {
      // shared with another connection of this user
    }
  }

  static Certificates materialize(JsonNode credentials, String host, String certFolder) {
    String user;
    String project;
    Map<String, byte[]> files = new LinkedHashMap<>();
    String serial;
    Instant expires;
    try {
      user = text(credentials, "user");
      project = text(credentials, "project");
      if (!NAME.matcher(user).matches() || !NAME.matcher(project).matches()) {
        throw new IllegalArgumentException("user or project is not a valid name");
      }
      files.put(CA_CHAIN, text(credentials, "ca_chain").getBytes(StandardCharsets.UTF_8));
      files.put(CLIENT_CERT, text(credentials, "client_cert").getBytes(StandardCharsets.UTF_8));
      files.put(CLIENT_KEY, text(credentials, "client_key").getBytes(StandardCharsets.UTF_8));
      files.put(KEY_STORE, Base64.getDecoder().decode(text(credentials, "key_store")));
      files.put(TRUST_STORE, Base64.getDecoder().decode(text(credentials, "trust_store")));
      files.put(PASSWORD_FILE, text(credentials, "password").getBytes(StandardCharsets.UTF_8));
      serial = text(credentials, "serial");
      expires = OffsetDateTime.parse(text(credentials, "expires_at").replace("Z", "+00:00")).toInstant();
    } catch (RuntimeException e) {
      throw new ServerException("The platform's credentials answer is malformed (" + e.getClass().getSimpleName()
          + ").", Map.of("host", host));
    }
    Path root = privateRoot(certFolder);
    Path parent = root.resolve(safeComponent(host)).resolve(project).resolve(user);
    Path folder = null;
    for (int attempt = 0; attempt < 5 && folder == null; attempt++) {
      try {
        mkdirPrivate(parent.getParent().getParent());
        mkdirPrivate(parent.getParent());
        mkdirPrivate(parent);
        FileAttribute<Set<PosixFilePermission>> attr = PosixFilePermissions.asFileAttribute(DIR);
        Path candidate = parent.resolve(ProcessHandle.current().pid() + "-" + Long.toHexString(RANDOM.nextLong()));
        folder = Files.createDirectory(candidate, attr);
        Files.setPosixFilePermissions(folder, DIR);
      } catch (NoSuchFileException e) {
        // another process removed an empty parent meanwhile: try again
      } catch (FileAlreadyExistsException e) {
        // a random clash: try again
      } catch (IOException e) {
        throw new ConfigurationException("Cannot create a certificate folder in " + parent + ": " + e.getMessage()
            + "; pass certFolder(...).", Map.of("cert_folder", root.toString()));
      }
    }
    if (folder == null) {
      throw new ConfigurationException("Cannot create a certificate folder in " + parent + "; pass certFolder(...).",
          Map.of("cert_folder", root.toString()));
    }
    try {
      for (Map.Entry<String, byte[]> f : files.entrySet()) {
        Path p = Files.createFile(folder.resolve(f.getKey()), PosixFilePermissions.asFileAttribute(FILE));
        Files.setPosixFilePermissions(p, FILE);
        Files.write(p, f.getValue());
      }
    } catch (IOException e) {
      remove(folder, 0);
      throw new ConfigurationException("Cannot write the certificates into " + folder + ": " + e.getMessage() + ".",
          Map.of("folder", folder.toString()));
    }
    return new Certificates(folder, user, project, serial, expires);
  }

  private static String text(JsonNode n, String field) {
    String v = Json.str(n, field);
    if (v == null) {
      throw new IllegalArgumentException("missing " + field);
    }
    return v;
  }

  /** Deletes the folder, then up to {@code levels} parents that became empty; never throws. */
  static void remove(Path folder, int levels) {
    try (Stream<Path> walk = Files.walk(folder)) {
      walk.sorted(Comparator.reverseOrder()).forEach(p -> {
        try {
          Files.deleteIfExists(p);
        } catch (IOException ignored) {
          // best effort
        }
      });
    } catch (IOException | RuntimeException ignored) {
      // gone already
    }
    Path p = folder.getParent();
    for (int i = 0; i < levels && p != null; i++, p = p.getParent()) {
      try {
        Files.delete(p);
      } catch (DirectoryNotEmptyException | NoSuchFileException e) {
        break;
      } catch (IOException e) {
        break;
      }
    }
  }

  void remove() {
    remove(folder, 3);
  }
}
