package dev.larder.testing;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * Runs a main class in a fresh JVM with an environment of its own (the only way to test that the
 * connector reads the real process environment: LARDER_*, AWS_*).
 */
public final class ChildJvm {
  private ChildJvm() {}

  /**
   * The outcome of a run.
   *
   * @param exit the exit code
   * @param stdout what it printed
   * @param stderr what it printed on stderr
   */
  public record Result(int exit, String stdout, String stderr) {}

  /**
   * Runs {@code main} with the test classpath.
   *
   * @param main the class
   * @param env the whole environment (nothing is inherited but PATH and JAVA_HOME)
   * @param jvmArgs extra JVM options (e.g. -Duser.home=...)
   * @param args program arguments
   * @return the result
   */
  public static Result run(Class<?> main, Map<String, String> env, List<String> jvmArgs, String... args) {
    return run(main.getName(), System.getProperty("java.class.path"), env, jvmArgs, args);
  }

  /**
   * Runs a class by name with a classpath.
   *
   * @param main the class name
   * @param classpath the classpath
   * @param env the environment
   * @param jvmArgs JVM options
   * @param args program arguments
   * @return the result
   */
  public static Result run(String main, String classpath, Map<String, String> env, List<String> jvmArgs,
      String... args) {
    try {
      List<String> cmd = new ArrayList<>();
      cmd.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
      cmd.add("-XX:TieredStopAtLevel=1");
      cmd.add("-Xshare:auto");
      cmd.addAll(jvmArgs);
      cmd.add("-cp");
      cmd.add(classpath);
      cmd.add(main);
      cmd.addAll(List.of(args));
      ProcessBuilder pb = new ProcessBuilder(cmd);
      pb.environment().clear();
      for (String keep : new String[] {"PATH", "JAVA_HOME", "LANG"}) {
        String v = System.getenv(keep);
        if (v != null) {
          pb.environment().put(keep, v);
        }
      }
      pb.environment().putAll(env);
      Path out = Files.createTempFile("child-", ".out");
      Path err = Files.createTempFile("child-", ".err");
      pb.redirectOutput(out.toFile()).redirectError(err.toFile());
      Process p = pb.start();
      if (!p.waitFor(180, TimeUnit.SECONDS)) {
        p.destroyForcibly();
        throw new IllegalStateException("child JVM " + main + " did not finish in 180 s");
      }
      Result r = new Result(p.exitValue(), Files.readString(out, StandardCharsets.UTF_8),
          Files.readString(err, StandardCharsets.UTF_8));
      Files.deleteIfExists(out);
      Files.deleteIfExists(err);
      return r;
    } catch (IOException e) {
      throw new IllegalStateException(e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException(e);
    }
  }
}
