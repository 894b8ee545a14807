package dev.larder

/** Larder feature groups, point-in-time queries and training data as Spark Datasets: start at
  * [[dev.larder.spark.LarderSpark]]. */
package object spark
