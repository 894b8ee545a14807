package dev.larder.spark

import java.nio.file.Files
import java.time.Instant

import scala.jdk.CollectionConverters._

import com.fasterxml.jackson.databind.JsonNode
import dev.larder.LarderConnection
import dev.larder.errors.InvalidArgumentException
import dev.larder.examples.ReadFeatureGroup
import dev.larder.featurestore.FeatureGroup
import dev.larder.testing.TestPlatform
import org.apache.spark.sql.{DataFrame, Row, SparkSession}
import org.apache.spark.sql.types._
import org.scalatest.BeforeAndAfterAll
import org.scalatest.funsuite.AnyFunSuite

/** larder-spark against the live platform: Delta reads and point-in-time queries equal to the Python
  * engine's, inserts the server materializes online, and the Scala example. */
class SparkSuite extends AnyFunSuite with BeforeAndAfterAll {
  private val P = TestPlatform.get()
  private var spark: SparkSession = _
  private var conn: LarderConnection = _
  private var ls: LarderSpark = _
  private var tmp: java.nio.file.Path = _

  override def beforeAll(): Unit = {
    tmp = Files.createTempDirectory("larder-spark-test")
    val b = SparkSession.builder().master("local[2]").appName("larder-spark-test")
      .config("spark.ui.enabled", "false")
      .config("spark.driver.host", "127.0.0.1")
      .config("spark.driver.bindAddress", "127.0.0.1")
      .config("spark.sql.codegen.wholeStage", "false") // tiny tables: compiling code costs more than it saves
      .config("spark.sql.adaptive.enabled", "false")
      .config("spark.sql.shuffle.partitions", "2")
      .config("spark.databricks.delta.snapshotPartitions", "2")
      .config("spark.local.dir", tmp.resolve("local").toString)
      .config("spark.sql.warehouse.dir", tmp.resolve("warehouse").toString)
    LarderSpark.sparkConfig().forEach((k, v) => b.config(k, v))
    spark = b.getOrCreate()
    conn = P.builder().apiKeyValue(P.key("alice")).build()
    ls = LarderSpark(conn, spark)
  }

  override def afterAll(): Unit = {
    if (conn != null) conn.close()
    if (spark != null) spark.stop()
    if (tmp != null) {
      val walk = Files.walk(tmp)
      try walk.sorted(java.util.Comparator.reverseOrder()).forEach(p => Files.deleteIfExists(p))
      finally walk.close()
    }
  }

  /** A value as the Python side wrote it into JSON: timestamps as epoch microseconds. */
  private def plain(v: Any): Any = v match {
    case null => null
    case t: java.sql.Timestamp => t.toInstant.getEpochSecond * 1000000L + t.toInstant.getNano / 1000
    case i: Instant => i.getEpochSecond * 1000000L + i.getNano / 1000
    case i: Int => i.toLong
    case s: Short => s.toLong
    case f: Float => f.toDouble
    case o => o
  }

  private def json(n: JsonNode): Any =
    if (n.isNull) null
    else if (n.isBoolean) n.booleanValue()
    else if (n.isIntegralNumber) n.longValue()
    else if (n.isNumber) n.doubleValue()
    else n.asText()

  private def expected(name: String): (Seq[String], Seq[Seq[Any]]) = {
    val e = P.expected().path(name)
    (e.path("columns").asScala.map(_.asText()).toSeq, e.path("rows").asScala.map(_.asScala.map(json).toSeq).toSeq)
  }

  private def rows(df: DataFrame, columns: Seq[String]): Seq[Seq[Any]] =
    df.select(columns.map(c => df.col(LarderSpark.q(c))): _*).collect().toSeq.map(r => r.toSeq.map(plain))

  private def sorted(rs: Seq[Seq[Any]]): Seq[Seq[Any]] = rs.sortBy(_.map(String.valueOf).mkString("\u0001"))

  private def fg(name: String): FeatureGroup = conn.getFeatureStore().getFeatureGroup(name, 1)

  test("a Delta read of each feature group the Python engine wrote is row-equal to Python's read") {
    for (name <- Seq("weather", "airports", "flights")) {
      val (cols, want) = expected(s"${name}_read")
      val df = ls.read(fg(name))
      assert(df.columns.toSeq == cols, name)
      assert(sorted(rows(df, cols)) == sorted(want), name)
    }
    assert(ls.read(fg("weather")).schema("time_hour").dataType == TimestampType)
    assert(ls.tablePath(fg("weather")) == P.str("/feature_store/weather_table"))
  }

  test("a point-in-time query gives Python's rows: every label row once, nulls where no earlier row, maxAge") {
    val fv = conn.getFeatureStore().getFeatureView("delays", 1)
    val (cols, want) = expected("pit_query")
    val df = ls.read(fv.query())
    assert(df.columns.toSeq == cols)
    val got = rows(df, cols)
    assert(got.size == ls.read(fg("flights")).count(), "every label row once")
    assert(sorted(got) == sorted(want))
    // the cases the data was made for: no earlier weather (SFO before hour 24), a tie, maxAge, a missing airport
    assert(got.exists(r => r(2) == "SFO" && r(6) == null), "no earlier row: null features")
    assert(got.exists(r => r(3) == "XXX" && r(8) == null), "no airport: null")
  }

  test("training data equals Python's training_data (X then y, ordered, time-bounded)") {
    val fv = conn.getFeatureStore().getFeatureView("delays", 1)
    val (cols, want) = expected("training")
    val start = Instant.ofEpochSecond(0, P.expected().path("training_start_us").asLong() * 1000)
    val end = Instant.ofEpochSecond(0, P.expected().path("training_end_us").asLong() * 1000)
    val td = ls.trainingData(fv, start, end)
    assert(td.columns.toSeq == cols)
    assert(rows(td, cols) == want, "same rows in the same order")
    assert(ls.batchData(fv, start, end).columns.toSeq == cols.filterNot(_ == "delayed"))
  }

  test("filters and a query built in Scala run as the Python engine's semantics say") {
    val flights = fg("flights")
    val weather = fg("weather")
    val q = flights.select("flight_id", "time_hour", "origin")
      .join(weather.select("temp"), java.util.List.of("origin"))
      .filter(dev.larder.featurestore.Filter.gt(weather, "temp", Double.box(10.0)))
    val got = ls.read(q).collect()
    assert(got.nonEmpty && got.forall(r => r.getAs[Double]("temp") > 10.0))
    val (cols, all) = expected("pit_query")
    val want = all.filter(r => r(6) != null && r(6).asInstanceOf[Double] > 10.0).map(_.take(3))
    assert(sorted(got.toSeq.map(r => Seq(plain(r.get(0)), plain(r.get(1)), r.get(2)))) == sorted(want))
  }

  test("insert: upserts from Spark are read back and served online (the server materializes them)") {
    val fs = conn.getFeatureStore()
    val name = "spark_" + java.util.UUID.randomUUID().toString.take(6)
    val group = fs.createFeatureGroup(name, 1, java.util.List.of("id"), "ts", true, "written by Spark")
    val schema = StructType(Seq(StructField("id", LongType, nullable = false), StructField("ts", TimestampType),
      StructField("score", DoubleType), StructField("label", StringType)))
    val t0 = java.sql.Timestamp.from(Instant.parse("2024-03-01T00:00:00Z"))
    val t1 = java.sql.Timestamp.from(Instant.parse("2024-03-02T00:00:00Z"))
    val first = spark.createDataFrame(java.util.List.of(Row(1L, t0, 0.5, "a"), Row(2L, t0, 1.5, "b")), schema)
    val c1 = ls.insert(group, first)
    assert(c1.get("delta_version") == 0L && c1.get("rows_inserted") == 2L)
    val g1 = fs.getFeatureGroup(name, 1)
    assert(g1.featureNames().asScala == Seq("id", "ts", "score", "label"))
    assert(g1.features().asScala.map(_.`type`()) == Seq("int64", "timestamp[us, tz=UTC]", "double", "string"))
    val second = spark.createDataFrame(java.util.List.of(Row(1L, t0, 9.5, "a2"), Row(3L, t1, 3.0, "c")), schema)
    val c2 = ls.insert(g1, second)
    assert(c2.get("operation") == "upsert" && c2.get("rows_inserted") == 1L && c2.get("rows_updated") == 1L, c2)
    val back = ls.read(g1).orderBy("id").collect().map(r => (r.getLong(0), r.getDouble(2), r.getString(3))).toSeq
    assert(back == Seq((1L, 9.5, "a2"), (2L, 1.5, "b"), (3L, 3.0, "c")))
    val fv = fs.createFeatureView(name + "_fv", g1.selectAll(), 1, java.util.List.of(), "")
    assert(fv.getFeatureVector(java.util.Map.of("id", 1L)).asScala == Seq(9.5, "a2"))
    assert(fv.getFeatureVector(java.util.Map.of("id", 3L)).asScala == Seq(3.0, "c"))
    val dupes = spark.createDataFrame(java.util.List.of(Row(5L, t0, 1.0, "x"), Row(5L, t0, 2.0, "y")), schema)
    val e = intercept[InvalidArgumentException](ls.insert(g1, dupes))
    assert(e.getMessage.contains("Duplicate keys"), e.getMessage)
    val wrong = spark.createDataFrame(java.util.List.of(Row(6L, t0, "oops", "x")), StructType(Seq(
      StructField("id", LongType), StructField("ts", TimestampType), StructField("score", StringType),
      StructField("label", StringType))))
    val w = intercept[InvalidArgumentException](ls.insert(g1, wrong))
    assert(w.getMessage.contains("score is string, the schema has double"), w.getMessage)
  }

  test("Jackson is relocated: Spark keeps its own, larder-java carries a copy it cannot clash with") {
    val where = classOf[LarderConnection].getProtectionDomain.getCodeSource.getLocation.getPath
    if (where.endsWith(".jar")) {
      val jar = new java.util.jar.JarFile(where)
      try {
        val names = jar.entries().asScala.map(_.getName).toSeq
        assert(names.exists(_.startsWith("dev/larder/shaded/jackson/databind/")))
        assert(!names.exists(n => n.startsWith("com/fasterxml/")), "no unrelocated Jackson class in larder-java")
      } finally jar.close()
    }
    val sparkJackson = com.fasterxml.jackson.databind.cfg.PackageVersion.VERSION
    assert(sparkJackson.getMinorVersion != 23 || sparkJackson.getMajorVersion != 2 || !where.endsWith(".jar"),
      s"Spark's Jackson $sparkJackson is not larder-java's 2.23")
    assert(spark.range(3).toJSON.collect().length == 3, "Spark's own JSON (Jackson) still works")
  }

  test("the Scala example (examples/scala) reads a feature group into a Dataset") {
    val df = ReadFeatureGroup.featureGroup(conn, spark, "weather", 1)
    assert(df.count() == expected("weather_read")._2.size)
    val td = ReadFeatureGroup.trainingData(conn, spark, "delays", 1)
    assert(td.columns.last == "delayed")
    val viaUrl = ReadFeatureGroup.fromUrl(s"https://${P.host()}:${P.port()}/${P.project()}", P.key("bob"), P.ca())
    try assert(viaUrl.user() == P.user("bob")) finally viaUrl.close()
  }
}
