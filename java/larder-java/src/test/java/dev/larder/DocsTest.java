package dev.larder;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.larder.featurestore.FeatureView;
import dev.larder.testing.ChildJvm;
import dev.larder.testing.TestPlatform;
import dev.larder.testing.VersionProbe;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import javax.tools.JavaCompiler;
import javax.tools.ToolProvider;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * docs/connecting.md's JVM section is exercised: its Java programs compile against this build and the
 * runnable one runs against the live platform; its Scala lines are the example's (examples/scala,
 * compiled and run by larder-spark's tests); its Maven and sbt coordinates are the POMs'; its
 * keytool recipe (with the trust store password) works for a plain JVM, and fails without it.
 */
class DocsTest {
  static final TestPlatform P = TestPlatform.get();
  static final Pattern FENCE = Pattern.compile("(?ms)^```(\\w*)\\n(.*?)^```\\s*$");

  @TempDir Path tmp;

  record Block(String lang, String code) {}

  static List<Block> blocks() throws Exception {
    String doc = Files.readString(P.repoRoot().resolve("docs/connecting.md"));
    int a = doc.indexOf("## Scala and Java");
    int b = doc.indexOf("\n## ", a + 5);
    String section = doc.substring(a, b);
    List<Block> out = new ArrayList<>();
    Matcher m = FENCE.matcher(section);
    while (m.find()) {
      out.add(new Block(m.group(1), m.group(2)));
    }
    return out;
  }

  static String pom(String module, String tag) throws Exception {
    String xml = Files.readString(P.repoRoot().resolve("java").resolve(module).resolve("pom.xml"));
    xml = xml.replaceAll("(?s)<parent>.*?</parent>", "");
    Matcher m = Pattern.compile("<" + tag + ">([^<$]+)</" + tag + ">").matcher(xml);
    return m.find() ? m.group(1) : null;
  }

  @Test
  void coordinatesAreThePoms() throws Exception {
    String version = pom(".", "version");
    String group = pom(".", "groupId");
    String xml = blocks().stream().filter(x -> x.lang().equals("xml")).findFirst().orElseThrow().code();
    for (String artifact : List.of(pom("larder-java", "artifactId"), pom("larder-spark", "artifactId"))) {
      assertTrue(xml.contains("<groupId>" + group + "</groupId>\n  <artifactId>" + artifact + "</artifactId>\n"
          + "  <version>" + version + "</version>"), artifact + " in\n" + xml);
    }
    String sbt = blocks().stream().filter(x -> x.code().contains("libraryDependencies")).findFirst().orElseThrow()
        .code();
    assertTrue(sbt.contains("\"" + group + "\" % \"larder-java\" % \"" + version + "\""), sbt);
    assertEquals("larder-spark_2.13", pom("larder-spark", "artifactId"), "%% appends the Scala binary version");
    assertTrue(sbt.contains("\"" + group + "\" %% \"larder-spark\" % \"" + version + "\""), sbt);
    assertEquals(LarderConnection.VERSION, version);
  }

  @Test
  void javaProgramsCompileAndTheServingOneRuns() throws Exception {
    List<Block> javaBlocks = blocks().stream().filter(x -> x.lang().equals("java")).toList();
    assertEquals(2, javaBlocks.size());
    Path src = tmp.resolve("src");
    Files.createDirectories(src);
    List<String> files = new ArrayList<>();
    for (Block b : javaBlocks) {
      Matcher m = Pattern.compile("public class (\\w+)").matcher(b.code());
      assertTrue(m.find(), b.code());
      Path f = src.resolve(m.group(1) + ".java");
      Files.writeString(f, b.code(), StandardCharsets.UTF_8);
      files.add(f.toString());
    }
    Path classes = tmp.resolve("classes");
    Files.createDirectories(classes);
    JavaCompiler javac = ToolProvider.getSystemJavaCompiler();
    List<String> args = new ArrayList<>(List.of("-d", classes.toString(), "-cp", System.getProperty("java.class.path")));
    args.addAll(files);
    assertEquals(0, javac.run(null, null, null, args.toArray(new String[0])), "the docs' Java compiles");
    Map<String, String> env = Map.of("LARDER_HOST", P.host(), "LARDER_PORT", String.valueOf(P.port()),
        "LARDER_PROJECT", P.project(), "LARDER_API_KEY", P.key("dave"), "LARDER_TRUST_STORE", P.ca(),
        "HOME", tmp.toString());
    ChildJvm.Result r = ChildJvm.run("ServeFeatures", classes + java.io.File.pathSeparator
        + System.getProperty("java.class.path"), env, List.of("-Duser.home=" + tmp), "weather_serving", "origin", "JFK");
    assertEquals(0, r.exit(), r.stderr());
    try (LarderConnection conn = P.builder().build()) {
      FeatureView fv = conn.getFeatureStore().getFeatureView("weather_serving");
      assertEquals(fv.servingFeatures() + " = " + fv.getFeatureVector(Map.of("origin", "JFK")), r.stdout().strip());
    }
  }

  @Test
  void scalaLinesAreTheTestedExamples() throws Exception {
    String example = Files.readString(P.repoRoot().resolve(
        "examples/scala/src/main/scala/dev/larder/examples/ReadFeatureGroup.scala"));
    int n = 0;
    for (Block b : blocks()) {
      if (!b.lang().equals("scala") || b.code().contains("libraryDependencies")) {
        continue;
      }
      for (String line : b.code().split("\n")) {
        if (!line.isBlank()) {
          assertTrue(example.contains(line.strip()), "not in the example: " + line);
          n++;
        }
      }
    }
    assertTrue(n >= 4);
  }

  @Test
  void keytoolRecipeNeedsAndHasTheTrustStorePassword() throws Exception {
    String bash = blocks().stream().filter(x -> x.lang().equals("bash")).findFirst().orElseThrow().code();
    assertTrue(bash.contains("-Djavax.net.ssl.trustStorePassword=changeit"), bash);
    Path p12 = tmp.resolve("larder-truststore.p12");
    Process keytool = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "keytool").toString(),
        "-importcert", "-noprompt", "-alias", "larder-ca", "-file", P.ca(), "-keystore", p12.toString(),
        "-storetype", "PKCS12", "-storepass", "changeit").redirectErrorStream(true).start();
    assertEquals(0, keytool.waitFor());
    List<String> props = List.of("-Djavax.net.ssl.trustStore=" + p12, "-Djavax.net.ssl.trustStoreType=PKCS12");
    List<String> with = new ArrayList<>(props);
    with.add("-Djavax.net.ssl.trustStorePassword=changeit");
    ChildJvm.Result ok = ChildJvm.run(VersionProbe.class, Map.of(), with, "https://localhost:" + P.port());
    assertEquals("status 200", ok.stdout().strip(), ok.stderr());
    ChildJvm.Result trap = ChildJvm.run(VersionProbe.class, Map.of(), props, "https://localhost:" + P.port());
    assertFalse(trap.stdout().startsWith("status"), "without the password the store is empty: " + trap.stdout());
  }
}
