package dev.larder.spark

import java.util.{LinkedHashMap => JLinkedHashMap, Map => JMap}

import scala.jdk.CollectionConverters._

import dev.larder.errors.InvalidArgumentException
import dev.larder.featurestore.FeatureGroup
import io.delta.tables.DeltaTable
import org.apache.spark.sql.DataFrame
import org.apache.spark.sql.functions._
import org.apache.spark.sql.types._

/** `LarderSpark.insert`: the Python engine's insert semantics on Spark and Delta. */
private[spark] object Inserts {

  /** The Arrow type names the Python engine records for a schema (`str(pyarrow type)`). */
  def typeName(t: DataType): String = t match {
    case LongType => "int64"
    case IntegerType => "int32"
    case ShortType => "int16"
    case ByteType => "int8"
    case DoubleType => "double"
    case FloatType => "float"
    case BooleanType => "bool"
    case StringType => "string"
    case BinaryType => "binary"
    case DateType => "date32[day]"
    case TimestampType => "timestamp[us, tz=UTC]"
    case TimestampNTZType => "timestamp[us]"
    case d: DecimalType => s"decimal128(${d.precision}, ${d.scale})"
    case other => other.simpleString
  }

  private def compatible(recorded: String, t: DataType): Boolean = {
    val mine = typeName(t)
    recorded == mine || (recorded == "large_string" && mine == "string") ||
      (recorded.startsWith("timestamp[") && recorded.contains("tz=") && t == TimestampType)
  }

  def insert(ls: LarderSpark, fg0: FeatureGroup, df: DataFrame, operation: String): JMap[String, AnyRef] = {
    if (operation != "upsert" && operation != "insert") {
      throw new InvalidArgumentException(s"Unknown operation '$operation'; use \"upsert\" or \"insert\".",
        Map[String, AnyRef]("operation" -> operation).asJava)
    }
    var fg = fg0
    val names = df.columns.toSeq
    val dupes = names.groupBy(identity).collect { case (n, xs) if xs.size > 1 => n }.toSeq.sorted
    if (dupes.nonEmpty) throw new InvalidArgumentException(s"Duplicate column names ${dupes.mkString("[", ", ", "]")}.")
    val pk = fg.primaryKey().asScala.toSeq
    val keys = pk ++ Option(fg.eventTime()).toSeq
    val missing = keys.filterNot(names.contains)
    if (missing.nonEmpty) {
      throw new InvalidArgumentException(s"The data frame lacks the primary key / event time column(s) "
        + s"${missing.mkString("[", ", ", "]")} (it has ${names.take(20).mkString("[", ", ", "]")}).")
    }
    Option(fg.eventTime()).foreach { et =>
      val t = df.schema(et).dataType
      if (t != TimestampType) {
        throw new InvalidArgumentException(s"Event time column '$et' must hold timestamps (UTC), not ${t.simpleString}.")
      }
    }
    val counts = df.agg(count(lit(1)).as("n"), pk.map(c => sum(when(col(LarderSpark.q(c)).isNull, 1).otherwise(0)).as(c)): _*)
      .collect()(0)
    val rows = counts.getLong(0)
    if (rows == 0) throw new InvalidArgumentException("The data frame is empty: nothing to insert.")
    pk.zipWithIndex.foreach { case (c, i) =>
      val nulls = if (counts.isNullAt(i + 1)) 0L else counts.getLong(i + 1)
      if (nulls > 0) {
        throw new InvalidArgumentException(s"Primary key column '$c' has $nulls null value(s); every row needs a key.",
          Map[String, AnyRef]("column" -> c, "nulls" -> java.lang.Long.valueOf(nulls)).asJava)
      }
    }
    val dup = df.groupBy(keys.map(c => col(LarderSpark.q(c))): _*).count().filter(col("count") > 1).limit(1).collect()
    if (dup.nonEmpty) {
      throw new InvalidArgumentException(s"Duplicate keys ${keys.mkString("(", ", ", ")")} within the insert, e.g. "
        + s"${dup(0).toSeq.dropRight(1).mkString("(", ", ", ")")}; each key (and event time) may appear once.")
    }
    if (fg.hasSchema()) {
      val recorded = fg.features().asScala.map(f => f.name() -> f.`type`()).toMap
      val wrong = df.schema.fields.filter(f => recorded.get(f.name).exists(r => !compatible(r, f.dataType)))
      val unknown = names.filterNot(recorded.contains)
      if (wrong.nonEmpty || unknown.nonEmpty) {
        throw new InvalidArgumentException("The data frame does not match feature group '" + fg.name() + "' v"
          + fg.version() + ": " + (wrong.map(f => s"${f.name} is ${typeName(f.dataType)}, the schema has "
          + recorded(f.name)) ++ unknown.map(n => s"$n is not a feature")).mkString("; ") + ".")
      }
    } else {
      val schema = new JLinkedHashMap[String, String]()
      df.schema.fields.foreach(f => schema.put(f.name, typeName(f.dataType)))
      fg = fg.recordSchema(schema)
    }
    val path = ls.tablePath(fg)
    val spark = ls.spark
    val exists = DeltaTable.isDeltaTable(spark, path)
    val (op, inserted, updated) =
      if (!exists) {
        df.write.format("delta").option("delta.enableChangeDataFeed", "true").mode("append").save(path)
        (operation, rows, 0L)
      } else if (operation == "insert") {
        df.write.format("delta").mode("append").save(path)
        ("insert", rows, 0L)
      } else {
        val cond = keys.map(k => s"t.${LarderSpark.q(k)} = s.${LarderSpark.q(k)}").mkString(" AND ")
        DeltaTable.forPath(spark, path).as("t").merge(df.as("s"), cond).whenMatched().updateAll()
          .whenNotMatched().insertAll().execute()
        val m = DeltaTable.forPath(spark, path).history(1).select("operationMetrics").collect()(0)
          .getMap[String, String](0)
        ("upsert", m.getOrElse("numTargetRowsInserted", "0").toLong, m.getOrElse("numTargetRowsUpdated", "0").toLong)
      }
    val version = DeltaTable.forPath(spark, path).history(1).select("version").collect()(0).getLong(0)
    val commit = fg.recordCommit(version, op, inserted, updated)
    val out = new JLinkedHashMap[String, AnyRef]()
    Seq("delta_version", "operation", "rows_inserted", "rows_updated").foreach(k => out.put(k, commit.get(k)))
    out
  }
}
