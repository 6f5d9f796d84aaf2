package io.insightgrid.examples;

import static org.apache.spark.sql.functions.col;
import static org.apache.spark.sql.functions.concat;
import static org.apache.spark.sql.functions.element_at;
import static org.apache.spark.sql.functions.lit;
import static org.apache.spark.sql.functions.array;

import org.apache.spark.sql.Column;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;

/**
 * Products is the examples' table: its SQL definition, its Spark schema, and N products
 * generated deterministically from their ids, so a reader can recompute any row and the
 * aggregates (product i: name "Product i", category CATEGORIES[i mod 5], price
 * (100 + (i·7919 mod 99900)) / 100, quantity i mod 1000).
 *
 * <p>The layout is spark-redis's DataFrame hash model, the one insight-sql reads: row i is
 * the hash {@code products:i}, one field per column except the key column {@code id}.
 */
final class Products {
    static final String TABLE = "products";
    static final String KEY_COLUMN = "id";
    static final String[] CATEGORIES = {"books", "garden", "kitchen", "sports", "toys"};

    /** DDL is the table insight-sql serves over the rows spark-redis writes. */
    static final String DDL = "CREATE TABLE IF NOT EXISTS " + TABLE + " ("
            + "id BIGINT NOT NULL PRIMARY KEY, "
            + "name VARCHAR(64) NOT NULL, "
            + "category VARCHAR(32) NOT NULL, "
            + "price DECIMAL(10,2) NOT NULL, "
            + "quantity INT NOT NULL)";

    /** SCHEMA is the DataFrame schema matching DDL. */
    static final StructType SCHEMA = new StructType()
            .add("id", DataTypes.LongType, false)
            .add("name", DataTypes.StringType, false)
            .add("category", DataTypes.StringType, false)
            .add("price", DataTypes.createDecimalType(10, 2), false)
            .add("quantity", DataTypes.IntegerType, false);

    /**
     * READ_SCHEMA is SCHEMA with price as text: spark-redis 3.0.0 converts a hash field only
     * to strings, integers, floats and booleans (a DecimalType column fails with "String is
     * not a valid external type"), so readers take the price's text and cast it.
     */
    static final StructType READ_SCHEMA = new StructType()
            .add("id", DataTypes.LongType, false)
            .add("name", DataTypes.StringType, false)
            .add("category", DataTypes.StringType, false)
            .add("price", DataTypes.StringType, false)
            .add("quantity", DataTypes.IntegerType, false);

    private Products() {
    }

    /** generate returns products 1..n in the given number of partitions, computed on the executors. */
    static Dataset<Row> generate(SparkSession spark, long n, int partitions) {
        Column id = col("id");
        Column[] categories = new Column[CATEGORIES.length];
        for (int i = 0; i < CATEGORIES.length; i++) {
            categories[i] = lit(CATEGORIES[i]);
        }
        return spark.range(1, n + 1, 1, partitions).select(
                id,
                concat(lit("Product "), id.cast(DataTypes.StringType)).as("name"),
                element_at(array(categories), id.mod(CATEGORIES.length).plus(1).cast(DataTypes.IntegerType)).as("category"),
                id.multiply(7919).mod(99900).plus(100).divide(100).cast(DataTypes.createDecimalType(10, 2)).as("price"),
                id.mod(1000).cast(DataTypes.IntegerType).as("quantity"));
    }
}
