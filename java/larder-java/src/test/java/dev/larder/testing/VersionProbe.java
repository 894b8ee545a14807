package dev.larder.testing;

import java.net.URL;
import javax.net.ssl.HttpsURLConnection;

/** A plain JVM HTTPS client (no connector): prints the status of GET {url}/api/v1/version, or the error. */
public final class VersionProbe {
  private VersionProbe() {}

  public static void main(String[] args) {
    try {
      HttpsURLConnection c = (HttpsURLConnection) new URL(args[0] + "/api/v1/version").openConnection();
      System.out.println("status " + c.getResponseCode());
    } catch (Exception e) {
      System.out.println("error " + e.getClass().getSimpleName() + ": " + e.getMessage());
    }
  }
}
