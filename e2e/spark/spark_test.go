package spark

import (
	"database/sql"
	"fmt"
	"math"
	"regexp"
	"strings"
	"testing"
	"time"

	_ "github.com/go-sql-driver/mysql" // the SQL endpoint's wire protocol
	"github.com/redis/go-redis/v9"
)

// products is how many products SaveProducts writes in the image's root: enough for several
// pipelines per partition; the source documents' 100,000 go through real pods in the e2e
// package's TestSparkJobsOnTheCluster.
const products = 10_000

// jobTimeout bounds one spark-submit in local mode (a JVM start, a job, a stop).
const jobTimeout = 6 * time.Minute

// TestSparkImage runs the image's entrypoint and examples in its own root filesystem:
// bad entrypoint input is refused, a uid without a passwd entry gets one, the executor
// mode starts Spark's executor backend, SparkPi estimates pi in the driver mode, SaveProducts (pass-through mode) writes 100,000
// products through the connector that SQL and Redis clients read back, and CountProducts
// counts them through the connector.
func TestSparkImage(t *testing.T) {
	img := unpackImage(t)

	t.Run("entrypoint refuses bad input", func(t *testing.T) {
		ctx := withTimeout(t, time.Minute)
		for _, tt := range []struct {
			args []string
			want string
		}{
			{nil, "entrypoint.sh: no command: want driver ARGS..., executor, or a command to run"},
			{[]string{"driver", "--class", "x"}, "entrypoint.sh: driver: SPARK_DRIVER_BIND_ADDRESS is not set (the pod Spark creates sets it)"},
			{[]string{"executor"}, "entrypoint.sh: executor: SPARK_DRIVER_URL is not set (the pod Spark creates sets it)"},
		} {
			out, code := img.run(ctx, t, nil, tt.args...)
			if code == 0 || !strings.Contains(out, tt.want) {
				t.Errorf("entrypoint %v: exit %d, output %q: want non-zero and %q", tt.args, code, out, tt.want)
			}
		}
	})

	t.Run("a random uid gets a user name", func(t *testing.T) {
		// Hadoop's login, which Spark calls, fails for a uid without a name; the
		// entrypoint names it through libnss_wrapper.
		out, code := img.runAs(withTimeout(t, time.Minute), t, 10001, nil, "whoami")
		if code != 0 || strings.TrimSpace(out) != "spark" {
			t.Errorf("whoami as uid 10001: exit %d, output %q; want spark", code, out)
		}
	})

	t.Run("executor mode starts Spark's Kubernetes executor", func(t *testing.T) {
		// The command line the entrypoint builds is accepted (a wrong option would print
		// KubernetesExecutorBackend's usage); with no driver listening it then fails to
		// reach it.
		env := []string{
			"SPARK_DRIVER_URL=spark://CoarseGrainedScheduler@127.0.0.1:1", "SPARK_EXECUTOR_ID=1",
			"SPARK_EXECUTOR_CORES=1", "SPARK_EXECUTOR_MEMORY=512m", "SPARK_APPLICATION_ID=spark-e2e",
			"SPARK_EXECUTOR_POD_IP=127.0.0.1", "SPARK_RESOURCE_PROFILE_ID=0", "SPARK_EXECUTOR_POD_NAME=exec-1",
			"SPARK_JAVA_OPT_0=-Dspark.driver.port=1",
		}
		out, code := img.run(withTimeout(t, 3*time.Minute), t, env, "executor")
		if code == 0 || strings.Contains(out, "Usage:") || !strings.Contains(out, "Connection refused") {
			t.Errorf("executor with no driver: exit %d, want non-zero, no usage and \"Connection refused\"; output:\n%s", code, tail(out))
		}
	})

	t.Run("SparkPi", func(t *testing.T) {
		// The driver mode of the pods spark-submit creates, with a local master: the
		// entrypoint adds the bind address and client deploy mode, and runs it under tini.
		out, code := img.run(withTimeout(t, jobTimeout), t, []string{"SPARK_DRIVER_BIND_ADDRESS=127.0.0.1"}, "driver",
			"--master", "local[2]", "--class", "io.insightgrid.examples.SparkPi", examplesJar, "4")
		m := regexp.MustCompile(`Pi is roughly (3\.1\d*)`).FindStringSubmatch(out)
		if code != 0 || m == nil {
			t.Fatalf("SparkPi: exit %d, want 0 and \"Pi is roughly 3.1…\"; output:\n%s", code, tail(out))
		}
		t.Logf("SparkPi: %s", m[0])
	})

	t.Run("SaveProducts and CountProducts", func(t *testing.T) {
		g := startGrid(t)
		host, port, _ := strings.Cut(g.seed, ":")
		conf := []string{
			"--conf", "spark.redis.host=" + host, "--conf", "spark.redis.port=" + port, "--conf", "spark.redis.auth=" + gridPassword,
			"--conf", "spark.insight.sql.url=jdbc:mariadb://" + g.sql + "/insight",
		}
		submit := func(class string, args ...string) string {
			t.Helper()
			argv := append([]string{"/opt/spark/bin/spark-submit", "--master", "local[2]", "--class", "io.insightgrid.examples." + class}, conf...)
			out, code := img.run(withTimeout(t, jobTimeout), t, nil, append(append(argv, examplesJar), args...)...)
			if code != 0 {
				t.Fatalf("%s: exit %d, want 0; output:\n%s", class, code, tail(out))
			}
			return out
		}
		out := submit("SaveProducts", fmt.Sprint(products))
		if m := regexp.MustCompile(`Saved \d+ products.*`).FindString(out); m != "" {
			t.Logf("SaveProducts: %s", m)
		}

		db, err := sql.Open("mysql", "insight:"+gridPassword+"@tcp("+g.sql+")/insight")
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		ctx := withTimeout(t, time.Minute)
		var count int
		var avg float64
		if err := db.QueryRowContext(ctx, "SELECT count(*), avg(price) FROM products").Scan(&count, &avg); err != nil {
			t.Fatalf("SELECT count(*), avg(price) FROM products: %v", err)
		}
		if want := expectedAveragePrice(products); count != products || math.Abs(avg-want) > 1e-6 {
			t.Errorf("SQL: count %d, average price %f; want %d and %f", count, avg, products, want)
		}

		rdb := redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{g.seed}, Password: gridPassword})
		defer rdb.Close()
		row, err := rdb.HGetAll(ctx, "products:42").Result()
		if err != nil {
			t.Fatalf("HGETALL products:42: %v", err)
		}
		want := map[string]string{"name": "Product 42", "category": "kitchen", "price": "329.98", "quantity": "42"}
		if fmt.Sprint(row) != fmt.Sprint(want) {
			t.Errorf("HGETALL products:42 = %v, want %v", row, want)
		}

		out = submit("CountProducts", fmt.Sprint(products))
		if !strings.Contains(out, fmt.Sprintf("Counted %d products", products)) {
			t.Errorf("CountProducts printed no \"Counted %d products\"; output:\n%s", products, tail(out))
		}
	})
}

// expectedAveragePrice is the average price of products 1..n as SaveProducts generates
// them: (100 + (i·7919 mod 99900)) / 100.
func expectedAveragePrice(n int) float64 {
	var cents int64
	for i := int64(1); i <= int64(n); i++ {
		cents += 100 + i*7919%99900
	}
	return float64(cents) / 100 / float64(n)
}
