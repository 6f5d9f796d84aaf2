package io.insightgrid.examples;

import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.SQLException;
import java.sql.Statement;

import org.apache.spark.sql.SaveMode;
import org.apache.spark.sql.SparkSession;

/**
 * SaveProducts generates N products and saves them to the grid as a DataFrame through the
 * Redis connector, in the table layout insight-sql reads: first {@code CREATE TABLE IF NOT
 * EXISTS products (...)} over JDBC to the SQL endpoint, then the rows as hashes
 * {@code products:<id>}. Saving again overwrites the same rows (same ids, same values).
 *
 * <p>Usage: {@code spark-submit --class io.insightgrid.examples.SaveProducts
 * --conf spark.insight.sql.url=jdbc:mariadb://HOST:PORT/insight
 * --conf spark.redis.host=HOST --conf spark.redis.port=PORT
 * local:///opt/insight/examples/insight-examples.jar [N [PARTITIONS]]} (N default 100000).
 * {@code spark.insight.sql.user} (default insight) and {@code spark.insight.sql.password}
 * (default spark.redis.auth, the grid's password, which the endpoint shares) log in to the
 * endpoint. {@code spark.insight.sql.createTable=false} skips the CREATE TABLE (and the
 * endpoint): only the rows are written, e.g. into a plain Redis server as a benchmark's anchor.
 * It prints the write alone as {@code Saved N products to the grid in X s (R rows/s)}.
 */
public final class SaveProducts {
    private SaveProducts() {
    }

    public static void main(String[] args) throws SQLException {
        long n = args.length > 0 ? Args.positiveLong("N", args[0]) : 100_000;
        SparkSession spark = SparkSession.builder().appName("SaveProducts").getOrCreate();
        try {
            int partitions = args.length > 1 ? Args.positiveInt("PARTITIONS", args[1])
                    : spark.sparkContext().defaultParallelism();
            if (createTableEnabled(spark)) {
                createTable(spark);
            }
            long start = System.nanoTime();
            Products.generate(spark, n, partitions).write()
                    .format("org.apache.spark.sql.redis")
                    .option("table", Products.TABLE)
                    .option("key.column", Products.KEY_COLUMN)
                    .mode(SaveMode.Append)
                    .save();
            double seconds = (System.nanoTime() - start) / 1e9;
            System.out.printf("Saved %d products to the grid in %.2f s (%.0f rows/s)%n", n, seconds, n / seconds);
        } finally {
            spark.stop();
        }
    }

    /** createTableEnabled reads spark.insight.sql.createTable: true (the default) or false. */
    private static boolean createTableEnabled(SparkSession spark) {
        String v = spark.conf().get("spark.insight.sql.createTable", "true");
        if (!v.equals("true") && !v.equals("false")) {
            throw new IllegalArgumentException("spark.insight.sql.createTable " + v + ": want true or false");
        }
        return v.equals("true");
    }

    /** createTable declares the products table on the SQL endpoint named by spark.insight.sql.url. */
    private static void createTable(SparkSession spark) throws SQLException {
        String url = spark.conf().get("spark.insight.sql.url", "");
        if (url.isEmpty()) {
            throw new IllegalArgumentException("spark.insight.sql.url is not set: want the SQL endpoint's JDBC URL, "
                    + "e.g. jdbc:mariadb://insight-sql:3306/insight");
        }
        String user = spark.conf().get("spark.insight.sql.user", "insight");
        String password = spark.conf().get("spark.insight.sql.password", spark.conf().get("spark.redis.auth", ""));
        try (Connection c = DriverManager.getConnection(url, user, password); Statement s = c.createStatement()) {
            s.execute(Products.DDL);
        } catch (SQLException e) {
            throw new SQLException("creating table " + Products.TABLE + " at " + url + ": " + e.getMessage(), e);
        }
    }
}
