package e2e

import (
	"context"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// examplesJar is where the insight-spark image (ci/spark-image.sh) keeps SparkPi,
// SaveProducts and CountProducts.
const examplesJar = "local:///opt/insight/examples/insight-examples.jar"

// TestSparkJobsOnTheCluster installs the suite with --enable spark,sql and runs the image's
// examples through insightctl submit in real pods the node agent runs: SparkPi with two
// executors prints its estimate and exits 0, its executors are removed after it; SaveProducts
// writes 100,000 products through the Redis connector, which SQL counts and averages and a
// Redis Cluster client reads as the hash products:42; a job whose class does not exist exits
// non-zero with the driver's error; bad flags create nothing.
func TestSparkJobsOnTheCluster(t *testing.T) {
	ns := cluster.Namespace(t, "spark")
	insightctlOK(t, "install", "demo", "-n", ns, "--profile", "dev", "--partitions", "2", "--enable", "spark,sql",
		"--set", "sql.bindAddress=$(INSIGHT_BIND)", "--timeout", "4m")

	submit := func(name, class string, args ...string) (out string, code int) {
		t.Helper()
		start := time.Now()
		res := insightctl(t, append([]string{"submit", "demo", "-n", ns, "--class", class, "--jar", examplesJar,
			"--executors", "2", "--name", name, "--start-timeout", "3m", "--timeout", "5m", "--"}, args...)...)
		t.Logf("insightctl submit %s: exit %d in %s", name, res.ExitCode, time.Since(start).Round(10*time.Millisecond))
		return res.Stdout + res.Stderr, res.ExitCode
	}

	out, code := submit("pi", "io.insightgrid.examples.SparkPi", "10")
	if code != 0 || !strings.Contains(out, "Pi is roughly 3.1") || !strings.Contains(out, "EXECUTORS: 2") {
		t.Fatalf("submit SparkPi: exit %d, want 0 with \"Pi is roughly 3.1\" and 2 executors:\n%s", code, tail(out, 40))
	}
	cluster.WaitFor(t, 2*time.Minute, "SparkPi's executor pods removed", func(ctx context.Context) (bool, error) {
		pods, err := cluster.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "spark-role=executor"})
		return err == nil && len(pods.Items) == 0, err
	})

	const products = 100000
	if out, code := submit("save", "io.insightgrid.examples.SaveProducts", "100000"); code != 0 || !strings.Contains(out, "Saved 100000 products") {
		t.Fatalf("submit SaveProducts: exit %d, want 0 with \"Saved 100000 products\":\n%s", code, tail(out, 40))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	addr := serviceEndpoint(t, ns, sqlService, "tcp-mysql")
	db := openSQL(t, addr, "insight", "", userDatabase(ctx, t, openSQL(t, addr, "insight", "", "")))
	var count int
	var avg float64
	if err := db.QueryRowContext(ctx, "SELECT count(*), avg(price) FROM products").Scan(&count, &avg); err != nil {
		t.Fatalf("SELECT count(*), avg(price) FROM products: %v", err)
	}
	if want := productsAveragePrice(products); count != products || math.Abs(avg-want) > 1e-6 {
		t.Errorf("SQL over the saved products: count %d, average price %f; want %d and %f", count, avg, products, want)
	}
	grid := redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{serviceEndpoint(t, ns, "demo-insight-pu", "resp")},
		MaxRedirects: 16, DialTimeout: 2 * time.Second, ReadTimeout: 2 * time.Second, WriteTimeout: 2 * time.Second})
	t.Cleanup(func() { _ = grid.Close() })
	if h, err := grid.HGetAll(ctx, "products:42").Result(); err != nil || h["name"] != "Product 42" {
		t.Errorf("HGETALL products:42: %v (%v), want the row of Product 42", h, err)
	}

	if out, code := submit("nosuch", "io.insightgrid.examples.NoSuchJob"); code == 0 || !strings.Contains(out, "io.insightgrid.examples.NoSuchJob") {
		t.Errorf("submit of a class the jar lacks: exit %d, want non-zero naming the class:\n%s", code, tail(out, 40))
	}

	before, err := cluster.Client.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{LabelSelector: "spark-role=driver"})
	if err != nil {
		t.Fatal(err)
	}
	bad := insightctl(t, "submit", "demo", "-n", ns, "--class", "io.insightgrid.examples.SparkPi", "--jar", examplesJar, "--executors", "0")
	if bad.ExitCode != 2 || !strings.Contains(bad.Stderr, "--executors") {
		t.Errorf("submit --executors 0: exit %d, want 2 naming --executors:\n%s", bad.ExitCode, bad.Stderr)
	}
	after, err := cluster.Client.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{LabelSelector: "spark-role=driver"})
	if err != nil {
		t.Fatal(err)
	}
	if len(after.Items) != len(before.Items) {
		t.Errorf("submit --executors 0 created driver pods: %d before, %d after", len(before.Items), len(after.Items))
	}
}

// productsAveragePrice is the average price of products 1..n as SaveProducts generates
// them: (100 + (i·7919 mod 99900)) / 100.
func productsAveragePrice(n int) float64 {
	var cents int
	for i := 1; i <= n; i++ {
		cents += 100 + i*7919%99900
	}
	return float64(cents) / 100 / float64(n)
}
