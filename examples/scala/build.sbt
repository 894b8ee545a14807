// The Scala example with sbt: sbt package (after `make java-install`, which puts larder into ~/.m2).
ThisBuild / scalaVersion := "2.13.18"
resolvers += Resolver.mavenLocal
libraryDependencies ++= Seq(
  "dev.larder" %% "larder-spark" % "0.1.0",
  "org.apache.spark" %% "spark-sql" % "4.2.0" % Provided,
  "io.delta" %% "delta-spark_4.2" % "4.4.0" % Provided
)
