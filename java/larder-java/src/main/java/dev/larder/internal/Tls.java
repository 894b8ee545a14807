package dev.larder.internal;

import dev.larder.errors.ConfigurationException;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyStore;
import java.security.cert.Certificate;
import java.security.cert.CertificateException;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.util.Collection;
import java.util.Map;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLEngine;
import javax.net.ssl.TrustManager;
import javax.net.ssl.TrustManagerFactory;
import javax.net.ssl.X509ExtendedTrustManager;
import javax.net.ssl.X509TrustManager;

/** The TLS context a connection verifies the server with. Internal. */
public final class Tls {
  private Tls() {}

  /**
   * Loads a trust store: a PEM bundle (one or more certificates, as a platform's {@code
   * <home>/tls/ca.pem}) or a PKCS#12 / JKS key store.
   *
   * @param path the file
   * @param password the key store's password (PKCS#12/JKS only; null: none)
   * @return the key store holding the trusted certificates
   */
  public static KeyStore loadTrustStore(Path path, char[] password) {
    byte[] data;
    try {
      data = Files.readAllBytes(path);
    } catch (IOException e) {
      throw new ConfigurationException("trustStorePath " + path + " does not exist or cannot be read ("
          + e.getClass().getSimpleName() + "); pass the platform's CA certificate (PEM; a platform keeps it "
          + "at <home>/tls/ca.pem).", Map.of("trust_store_path", path.toString()));
    }
    try {
      KeyStore ks = KeyStore.getInstance("PKCS12");
      String head = new String(data, 0, Math.min(data.length, 4096), StandardCharsets.US_ASCII);
      if (head.contains("-----BEGIN")) {
        ks.load(null, null);
        CertificateFactory cf = CertificateFactory.getInstance("X.509");
        Collection<? extends Certificate> certs = cf.generateCertificates(new ByteArrayInputStream(data));
        if (certs.isEmpty()) {
          throw new CertificateException("no certificate in the file");
        }
        int i = 0;
        for (Certificate c : certs) {
          ks.setCertificateEntry("larder-ca-" + i++, c);
        }
        return ks;
      }
      for (String type : new String[] {"PKCS12", "JKS"}) {
        try (InputStream in = new ByteArrayInputStream(data)) {
          KeyStore k = KeyStore.getInstance(type);
          k.load(in, password);
          if (k.size() == 0) {
            throw new ConfigurationException("The trust store " + path + " holds no certificate"
                + (password == null ? " that can be read without a password; pass trustStorePassword(...) (a "
                + "PKCS#12 store written by keytool encrypts its certificates with its password), or pass "
                + "the PEM file itself (e.g. <home>/tls/ca.pem) as trustStorePath." : "."),
                Map.of("trust_store_path", path.toString()));
          }
          return k;
        } catch (IOException | GeneralSecurityException e) {
          if (e.getCause() instanceof java.security.UnrecoverableKeyException
              || String.valueOf(e.getMessage()).contains("password")) {
            throw new ConfigurationException("Cannot open the trust store " + path + ": wrong or missing "
                + "trustStorePassword(...). Pass the password it was written with, or the PEM CA file "
                + "itself (e.g. <home>/tls/ca.pem).", Map.of("trust_store_path", path.toString()));
          }
        }
      }
      throw new CertificateException("neither PEM, PKCS#12 nor JKS");
    } catch (GeneralSecurityException | IOException e) {
      throw new ConfigurationException("trustStorePath " + path + " is not a trust store Larder can read ("
          + e.getMessage() + "); pass a PEM CA bundle such as <home>/tls/ca.pem, or a PKCS#12/JKS store "
          + "with trustStorePassword(...).", Map.of("trust_store_path", path.toString()));
    }
  }

  private static final Map<String, SSLContext> CONTEXTS = new java.util.concurrent.ConcurrentHashMap<>();

  /**
   * The SSL context of a trust store file, shared by the connections that use the same file (as it
   * is on disk: path, size, modification time) and settings, so that they resume TLS sessions
   * instead of a full handshake each.
   *
   * @param path the trust store
   * @param password its password (PKCS#12/JKS), or null
   * @param hostnameVerification whether host names are checked
   * @return the context
   */
  public static SSLContext cachedContext(Path path, char[] password, boolean hostnameVerification) {
    if (path == null) {
      return CONTEXTS.computeIfAbsent("default|" + hostnameVerification, k -> context(null, hostnameVerification));
    }
    String key;
    try {
      key = path.toRealPath() + "|" + Files.size(path) + "|" + Files.getLastModifiedTime(path).toMillis() + "|"
          + hostnameVerification + "|" + (password == null ? 0 : java.util.Arrays.hashCode(password));
    } catch (IOException e) {
      return context(loadTrustStore(path, password), hostnameVerification); // raises the usual message
    }
    SSLContext ctx = CONTEXTS.get(key);
    if (ctx == null) {
      ctx = context(loadTrustStore(path, password), hostnameVerification);
      CONTEXTS.put(key, ctx);
    }
    return ctx;
  }

  /**
   * The SSL context.
   *
   * @param trustStore trusted certificates; null: the JDK's default trust store (cacerts)
   * @param hostnameVerification false: the chain is verified, the host name is not
   * @return the context
   */
  public static SSLContext context(KeyStore trustStore, boolean hostnameVerification) {
    try {
      TrustManagerFactory tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
      tmf.init(trustStore);
      X509TrustManager tm = null;
      for (TrustManager t : tmf.getTrustManagers()) {
        if (t instanceof X509TrustManager x) {
          tm = x;
        }
      }
      if (tm == null) {
        throw new GeneralSecurityException("no X509TrustManager");
      }
      SSLContext ctx = SSLContext.getInstance("TLS");
      ctx.init(null, new TrustManager[] {hostnameVerification ? tm : new ChainOnly(tm)}, null);
      return ctx;
    } catch (GeneralSecurityException e) {
      throw new ConfigurationException("Cannot set up TLS: " + e.getMessage());
    }
  }

  /** Verifies the certificate chain but not that it names the host. */
  private static final class ChainOnly extends X509ExtendedTrustManager {
    private final X509TrustManager delegate;

    ChainOnly(X509TrustManager delegate) {
      this.delegate = delegate;
    }

    @Override
    public void checkClientTrusted(X509Certificate[] chain, String authType) throws CertificateException {
      delegate.checkClientTrusted(chain, authType);
    }

    @Override
    public void checkServerTrusted(X509Certificate[] chain, String authType) throws CertificateException {
      delegate.checkServerTrusted(chain, authType);
    }

    @Override
    public X509Certificate[] getAcceptedIssuers() {
      return delegate.getAcceptedIssuers();
    }

    @Override
    public void checkClientTrusted(X509Certificate[] chain, String authType, Socket socket)
        throws CertificateException {
      delegate.checkClientTrusted(chain, authType);
    }

    @Override
    public void checkServerTrusted(X509Certificate[] chain, String authType, Socket socket)
        throws CertificateException {
      delegate.checkServerTrusted(chain, authType);
    }

    @Override
    public void checkClientTrusted(X509Certificate[] chain, String authType, SSLEngine engine)
        throws CertificateException {
      delegate.checkClientTrusted(chain, authType);
    }

    @Override
    public void checkServerTrusted(X509Certificate[] chain, String authType, SSLEngine engine)
        throws CertificateException {
      delegate.checkServerTrusted(chain, authType);
    }
  }
}
