package io.insightgrid.examples;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ThreadLocalRandom;

import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.sql.SparkSession;

/**
 * SparkPi estimates pi as Spark's own SparkPi example does: it throws 100,000 random points
 * per slice into the square [-1, 1]², counts those inside the unit circle across the
 * executors and prints "Pi is roughly 3.14…" on the driver. Spark's examples jar is not
 * published on Maven Central for 3.5, so the image ships this one.
 *
 * <p>Usage: {@code spark-submit --class io.insightgrid.examples.SparkPi
 * local:///opt/insight/examples/insight-examples.jar [SLICES]} (default 2).
 */
public final class SparkPi {
    private static final int POINTS_PER_SLICE = 100_000;

    private SparkPi() {
    }

    public static void main(String[] args) {
        int slices = args.length > 0 ? Args.positiveInt("SLICES", args[0]) : 2;
        SparkSession spark = SparkSession.builder().appName("SparkPi").getOrCreate();
        try {
            JavaSparkContext sc = new JavaSparkContext(spark.sparkContext());
            int n = Math.multiplyExact(POINTS_PER_SLICE, slices);
            List<Integer> points = new ArrayList<>(n);
            for (int i = 0; i < n; i++) {
                points.add(i);
            }
            long inside = sc.parallelize(points, slices).filter(i -> {
                double x = ThreadLocalRandom.current().nextDouble() * 2 - 1;
                double y = ThreadLocalRandom.current().nextDouble() * 2 - 1;
                return x * x + y * y <= 1;
            }).count();
            System.out.println("Pi is roughly " + 4.0 * inside / n);
        } finally {
            spark.stop();
        }
    }
}
