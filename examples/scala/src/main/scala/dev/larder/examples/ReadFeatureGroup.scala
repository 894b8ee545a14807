package dev.larder.examples

import dev.larder.{Larder, LarderConnection}
import dev.larder.spark.LarderSpark
import org.apache.spark.sql.{DataFrame, SparkSession}

/**
 * Reads a Larder feature group into a Spark Dataset, and a feature view's point-in-time training data.
 *
 * {{{
 * export LARDER_URL=https://larder.example.com:8181/fraud LARDER_API_KEY=... LARDER_TRUST_STORE=ca.pem
 * spark-submit --class dev.larder.examples.ReadFeatureGroup --packages io.delta:delta-spark_4.2_2.13:4.4.0 \
 *   larder-example.jar weather 1 delays 1
 * }}}
 */
object ReadFeatureGroup {

  /** Reads `name` v`version` and prints its schema and size; returns the Dataset. */
  def featureGroup(conn: LarderConnection, spark: SparkSession, name: String, version: Int): DataFrame = {
    val ls = LarderSpark(conn, spark)
    val fg = conn.getFeatureStore().getFeatureGroup(name, version)
    val df = ls.read(fg)
    println(s"${fg.name()} v${fg.version()}: primary key ${fg.primaryKey()}, event time ${fg.eventTime()}")
    df.printSchema()
    println(s"${df.count()} rows")
    df
  }

  /** A feature view's training data (features, then labels), point-in-time correct. */
  def trainingData(conn: LarderConnection, spark: SparkSession, view: String, version: Int): DataFrame = {
    val fv = conn.getFeatureStore().getFeatureView(view, version)
    val td = LarderSpark(conn, spark).trainingData(fv, null, null)
    println(s"training data of ${fv.name()} v${fv.version()}: ${td.columns.mkString(", ")}; labels ${fv.labels()}")
    td
  }

  def main(args: Array[String]): Unit = {
    val builder = SparkSession.builder().appName("larder-example")
    LarderSpark.sparkConfig().forEach((k, v) => builder.config(k, v))
    if (!sys.props.contains("spark.master")) builder.master("local[2]")
    val spark = builder.getOrCreate()
    // the platform from the environment: LARDER_URL (or LARDER_HOST/LARDER_PORT), LARDER_API_KEY, LARDER_TRUST_STORE
    val conn = LarderConnection.builder().build()
    try {
      featureGroup(conn, spark, args.lift(0).getOrElse("weather"), args.lift(1).map(_.toInt).getOrElse(1)).show(5)
      if (args.length >= 4) trainingData(conn, spark, args(2), args(3).toInt).show(5)
    } finally {
      conn.close()
      spark.stop()
    }
  }

  /** The same from a URL, Hoss style, with the platform's CA (a platform keeps it at <home>/tls/ca.pem). */
  def fromUrl(url: String, apiKey: String, caPem: String): LarderConnection =
    Larder.builder(url).apiKeyValue(apiKey).trustStorePath(caPem).build()
}
