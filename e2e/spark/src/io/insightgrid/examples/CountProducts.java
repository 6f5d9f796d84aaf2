package io.insightgrid.examples;

import static org.apache.spark.sql.functions.avg;
import static org.apache.spark.sql.functions.col;
import static org.apache.spark.sql.functions.count;
import static org.apache.spark.sql.functions.lit;

import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.types.DataTypes;

/**
 * CountProducts reads the products table back from the grid through the Redis connector
 * (every {@code products:*} hash, scanned per node) and prints how many rows it holds and
 * their average price, with the read's time (the query alone, not the session's start). With
 * EXPECTED it exits non-zero when the count differs.
 *
 * <p>Usage: {@code spark-submit --class io.insightgrid.examples.CountProducts
 * --conf spark.redis.host=HOST --conf spark.redis.port=PORT
 * local:///opt/insight/examples/insight-examples.jar [EXPECTED]}.
 */
public final class CountProducts {
    private CountProducts() {
    }

    public static void main(String[] args) {
        long expected = args.length > 0 ? Args.positiveLong("EXPECTED", args[0]) : -1;
        SparkSession spark = SparkSession.builder().appName("CountProducts").getOrCreate();
        long n;
        try {
            long start = System.nanoTime();
            Row r = spark.read()
                    .format("org.apache.spark.sql.redis")
                    .option("table", Products.TABLE)
                    .option("key.column", Products.KEY_COLUMN)
                    .schema(Products.READ_SCHEMA)
                    .load()
                    .agg(count(lit(1)), avg(col("price").cast(DataTypes.createDecimalType(10, 2))))
                    .first();
            n = r.getLong(0);
            double seconds = (System.nanoTime() - start) / 1e9;
            System.out.printf("Counted %d products, average price %s in %.2f s (%.0f rows/s)%n",
                    n, r.get(1), seconds, n / seconds);
        } finally {
            spark.stop();
        }
        if (expected >= 0 && n != expected) {
            System.err.println("CountProducts: counted " + n + " products, expected " + expected);
            System.exit(1);
        }
    }
}
