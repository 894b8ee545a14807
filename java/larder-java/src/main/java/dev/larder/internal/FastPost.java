package dev.larder.internal;

import java.io.BufferedInputStream;
import java.io.BufferedOutputStream;
import java.io.ByteArrayOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.Locale;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLParameters;
import javax.net.ssl.SSLSocket;

/**
 * The online-serving hot path: {@code POST} over kept-alive TLS sockets with a minimal HTTP/1.1
 * exchange (no request objects, no thread hand-offs), as the Python client's {@code post_fast}.
 * Same TLS settings as the REST session. Anything unexpected (a refused connection, a TLS failure)
 * is left to the caller, which falls back to the full client and its explanations. Internal.
 */
final class FastPost {
  /** A response: its status and body. */
  record Response(int status, byte[] body) {}

  private static final long IDLE_NANOS = Duration.ofSeconds(3).toNanos(); // uvicorn closes idle ones at 5 s
  private static final int MAX_IDLE = 8;

  private final SSLContext ssl;
  private final boolean hostnameVerification;
  private final String host;
  private final int port;
  private final int timeoutMillis;
  private final byte[] head;
  private final ArrayDeque<Conn> idle = new ArrayDeque<>();

  private static final class Conn {
    final SSLSocket socket;
    final InputStream in;
    final OutputStream out;
    long lastUsed;

    Conn(SSLSocket socket) throws IOException {
      this.socket = socket;
      this.in = new BufferedInputStream(socket.getInputStream(), 64 * 1024);
      this.out = new BufferedOutputStream(socket.getOutputStream(), 64 * 1024);
    }

    void close() {
      try {
        socket.close();
      } catch (IOException ignored) {
        // closing
      }
    }
  }

  FastPost(SSLContext ssl, boolean hostnameVerification, String host, int port, Duration timeout,
      String authorization, String userAgent) {
    this.ssl = ssl;
    this.hostnameVerification = hostnameVerification;
    this.host = host;
    this.port = port;
    this.timeoutMillis = (int) Math.min(Integer.MAX_VALUE, timeout.toMillis());
    String hostHeader = (host.contains(":") ? "[" + host + "]" : host) + ":" + port;
    this.head = ("Host: " + hostHeader + "\r\nUser-Agent: " + userAgent + "\r\nAccept: application/json\r\n"
        + "Content-Type: application/json\r\n" + (authorization == null ? "" : "Authorization: " + authorization
        + "\r\n")).getBytes(StandardCharsets.ISO_8859_1);
  }

  private Conn open() throws IOException {
    SSLSocket s = (SSLSocket) ssl.getSocketFactory().createSocket();
    s.setTcpNoDelay(true);
    s.setSoTimeout(timeoutMillis);
    SSLParameters params = s.getSSLParameters();
    if (hostnameVerification) {
      params.setEndpointIdentificationAlgorithm("HTTPS");
    }
    s.setSSLParameters(params);
    s.connect(new InetSocketAddress(host, port), timeoutMillis);
    s.startHandshake();
    return new Conn(s);
  }

  private Conn take() {
    synchronized (idle) {
      long now = System.nanoTime();
      while (!idle.isEmpty()) {
        Conn c = idle.pollLast();
        if (now - c.lastUsed < IDLE_NANOS) {
          return c;
        }
        c.close();
      }
    }
    return null;
  }

  private void give(Conn c) {
    c.lastUsed = System.nanoTime();
    synchronized (idle) {
      if (idle.size() < MAX_IDLE) {
        idle.addLast(c);
        return;
      }
    }
    c.close();
  }

  void close() {
    synchronized (idle) {
      idle.forEach(Conn::close);
      idle.clear();
    }
  }

  /**
   * POSTs a JSON body.
   *
   * @param path the full path, e.g. {@code /api/v1/projects/p/featureviews/v/1/vectors}
   * @param body the JSON
   * @return the response
   * @throws IOException when no connection could be made or used (the caller falls back)
   */
  Response post(String path, byte[] body) throws IOException {
    Conn reused = take();
    if (reused != null) {
      try {
        return exchange(reused, path, body);
      } catch (IOException e) {
        reused.close(); // closed by the server while idle: the request never reached it
      }
    }
    return exchange(open(), path, body);
  }

  private Response exchange(Conn c, String path, byte[] body) throws IOException {
    boolean keep = false;
    try {
      OutputStream out = c.out;
      out.write(("POST " + path + " HTTP/1.1\r\n").getBytes(StandardCharsets.ISO_8859_1));
      out.write(head);
      out.write(("Content-Length: " + body.length + "\r\n\r\n").getBytes(StandardCharsets.ISO_8859_1));
      out.write(body);
      out.flush();
      InputStream in = c.in;
      String status = line(in);
      if (!status.startsWith("HTTP/1.")) {
        throw new IOException("not an HTTP response: " + status);
      }
      int code = Integer.parseInt(status.substring(9, 12));
      long length = -1;
      boolean chunked = false;
      keep = true;
      for (String h = line(in); !h.isEmpty(); h = line(in)) {
        int colon = h.indexOf(':');
        if (colon <= 0) {
          continue;
        }
        String name = h.substring(0, colon).trim().toLowerCase(Locale.ROOT);
        String value = h.substring(colon + 1).trim();
        if (name.equals("content-length")) {
          length = Long.parseLong(value);
        } else if (name.equals("transfer-encoding") && value.toLowerCase(Locale.ROOT).contains("chunked")) {
          chunked = true;
        } else if (name.equals("connection") && value.equalsIgnoreCase("close")) {
          keep = false;
        }
      }
      byte[] data;
      if (chunked) {
        ByteArrayOutputStream buf = new ByteArrayOutputStream();
        while (true) {
          String size = line(in);
          int semi = size.indexOf(';');
          int n = Integer.parseInt((semi >= 0 ? size.substring(0, semi) : size).trim(), 16);
          if (n == 0) {
            while (!line(in).isEmpty()) {
              // trailers
            }
            break;
          }
          buf.write(in.readNBytes(n));
          line(in);
        }
        data = buf.toByteArray();
      } else if (length >= 0) {
        data = in.readNBytes((int) length);
        if (data.length != length) {
          throw new EOFException("response shorter than its Content-Length");
        }
      } else {
        data = in.readAllBytes();
        keep = false;
      }
      Response r = new Response(code, data);
      if (keep) {
        give(c);
      } else {
        c.close();
      }
      return r;
    } catch (IOException | RuntimeException e) {
      c.close();
      if (e instanceof RuntimeException) {
        throw new IOException(e);
      }
      throw e;
    }
  }

  private static String line(InputStream in) throws IOException {
    StringBuilder sb = new StringBuilder(64);
    while (true) {
      int b = in.read();
      if (b < 0) {
        throw new EOFException("connection closed");
      }
      if (b == '\n') {
        int n = sb.length();
        return n > 0 && sb.charAt(n - 1) == '\r' ? sb.substring(0, n - 1) : sb.toString();
      }
      sb.append((char) b);
    }
  }
}
