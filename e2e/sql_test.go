package e2e

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/redis/go-redis/v9"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/rand"
)

// sqlService is the Service of the release's SQL endpoints (charts/insight-sql).
const sqlService = "demo-insight-sql"

// serviceEndpoint returns "ip:port" of a ready pod behind a Service port. The local cluster
// has no kube-proxy and no DNS, and the API server refuses the node agent's loopback pod IPs
// in EndpointSlices, so the agent's /etc/hosts maps a Service's name to its ready pods,
// selected as the EndpointSlice controller would: this does the same, so the address is the
// one a pod connecting to the Service gets. It checks that the Service's port is the pods'
// port, which a cluster without kube-proxy needs.
func serviceEndpoint(t *testing.T, ns, service, portName string) string {
	t.Helper()
	svc, err := cluster.Client.CoreV1().Services(ns).Get(context.Background(), service, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("Service %s: %v", service, err)
	}
	var port *corev1.ServicePort
	for i := range svc.Spec.Ports {
		if svc.Spec.Ports[i].Name == portName {
			port = &svc.Spec.Ports[i]
		}
	}
	if port == nil {
		t.Fatalf("Service %s has no port %s: %+v", service, portName, svc.Spec.Ports)
	}
	if len(svc.Spec.Selector) == 0 {
		t.Fatalf("Service %s has no selector: its endpoints cannot be found from its pods", service)
	}
	var addr string
	cluster.WaitFor(t, time.Minute, "a ready pod of Service "+service, func(ctx context.Context) (bool, error) {
		pods, err := cluster.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{
			LabelSelector: labels.SelectorFromSet(svc.Spec.Selector).String()})
		if err != nil {
			return false, err
		}
		for i := range pods.Items {
			pod := &pods.Items[i]
			if pod.Status.PodIP == "" || pod.DeletionTimestamp != nil || !podReady(pod) {
				continue
			}
			target, ok := podPort(pod, port.TargetPort)
			if !ok {
				return false, fmt.Errorf("Service %s port %s targets %s, which pod %s does not declare", service, portName, port.TargetPort.String(), pod.Name)
			}
			if target != port.Port {
				return false, fmt.Errorf("Service %s port %s is %d but its pods listen on %d: without kube-proxy clients dial the Service's port on the pods", service, portName, port.Port, target)
			}
			addr = net.JoinHostPort(pod.Status.PodIP, strconv.Itoa(int(target)))
			return true, nil
		}
		return false, nil
	})
	return addr
}

// podPort resolves a Service's targetPort (a number, or a container port's name) on pod.
func podPort(pod *corev1.Pod, target intstr.IntOrString) (int32, bool) {
	if target.Type == intstr.Int {
		return target.IntVal, target.IntVal != 0
	}
	for _, c := range pod.Spec.Containers {
		for _, p := range c.Ports {
			if p.Name == target.StrVal {
				return p.ContainerPort, true
			}
		}
	}
	return 0, false
}

// openSQL opens a MySQL connection pool to addr as user with password, on database db
// ("" for none), with every network step bounded.
func openSQL(t *testing.T, addr, user, password, db string) *sql.DB {
	t.Helper()
	cfg := mysql.NewConfig()
	cfg.User, cfg.Passwd, cfg.Net, cfg.Addr, cfg.DBName = user, password, "tcp", addr, db
	cfg.Timeout, cfg.ReadTimeout, cfg.WriteTimeout = 10*time.Second, 30*time.Second, 30*time.Second
	conn, err := mysql.NewConnector(cfg)
	if err != nil {
		t.Fatal(err)
	}
	pool := sql.OpenDB(conn)
	t.Cleanup(func() { _ = pool.Close() })
	return pool
}

// userDatabase returns the database the endpoint serves the grid's tables in: the one
// SHOW DATABASES lists besides MySQL's system schemas.
func userDatabase(ctx context.Context, t *testing.T, db *sql.DB) string {
	t.Helper()
	rows, err := db.QueryContext(ctx, "SHOW DATABASES")
	if err != nil {
		t.Fatalf("SHOW DATABASES: %v", err)
	}
	defer rows.Close()
	system := []string{"information_schema", "mysql", "performance_schema", "sys"}
	var names []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			t.Fatal(err)
		}
		names = append(names, name)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		if !slices.Contains(system, n) {
			return n
		}
	}
	t.Fatalf("SHOW DATABASES lists %v: no database for the grid's tables", names)
	return ""
}

// fruit is one row of the test's table, and the hash "<table>:<id>" that holds it.
type fruit struct {
	id, name string
	qty      int
}

// TestSQLThroughTheService installs the suite with --enable sql and the grid's password on
// the local cluster (2 partitions), and talks MySQL to the SQL endpoints through their
// Service: a wrong password is refused (1045); CREATE TABLE, a multi-row INSERT and a
// SELECT read the rows back; each row is the hash "<table>:<key>" with one field per
// column in the grid, read with a Redis Cluster client; a hash a Redis client writes is a
// row SQL selects. The endpoints' readiness and metrics answer on the Service's
// http-metrics port.
func TestSQLThroughTheService(t *testing.T) {
	ns := cluster.Namespace(t, "sql")
	password := rand.String(16)
	// The node agent runs pods on the host's network: the endpoints bind their own
	// address, which it gives them as INSIGHT_BIND.
	insightctlOK(t, "install", "demo", "-n", ns, "--profile", "dev", "--partitions", "2", "--enable", "sql",
		"--set", "sql.bindAddress=$(INSIGHT_BIND),global.auth.enabled=true", "--set-string", "global.auth.password="+password,
		"--timeout", "4m")

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	httpAddr := serviceEndpoint(t, ns, sqlService, "http-metrics")
	for _, path := range []string{"/readyz", "/healthz", "/metrics"} {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+httpAddr+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("GET %s on the SQL endpoint: %v", path, err)
		}
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s on the SQL endpoint: %s, want 200", path, resp.Status)
		}
	}

	addr := serviceEndpoint(t, ns, sqlService, "tcp-mysql")
	var myErr *mysql.MySQLError
	if err := openSQL(t, addr, "insight", password+"x", "").PingContext(ctx); !errors.As(err, &myErr) || myErr.Number != 1045 {
		t.Errorf("login with a wrong password: %v, want MySQL error 1045 (access denied)", err)
	}
	dbName := userDatabase(ctx, t, openSQL(t, addr, "insight", password, ""))
	db := openSQL(t, addr, "insight", password, dbName)

	table := "e2e_fruit_" + rand.String(5)
	if _, err := db.ExecContext(ctx, "CREATE TABLE "+table+" (id VARCHAR(32) PRIMARY KEY, name VARCHAR(64), qty INT)"); err != nil {
		t.Fatalf("CREATE TABLE: %v", err)
	}
	inserted := []fruit{{"a", "apple", 3}, {"b", "banana", 5}}
	res, err := db.ExecContext(ctx, "INSERT INTO "+table+" (id, name, qty) VALUES (?, ?, ?), (?, ?, ?)",
		inserted[0].id, inserted[0].name, inserted[0].qty, inserted[1].id, inserted[1].name, inserted[1].qty)
	if err != nil {
		t.Fatalf("INSERT: %v", err)
	}
	if n, err := res.RowsAffected(); err != nil || n != 2 {
		t.Errorf("INSERT of 2 rows: %d rows affected (%v)", n, err)
	}
	if got := selectFruit(ctx, t, db, table); !slices.Equal(got, inserted) {
		t.Errorf("SELECT after INSERT: %v, want %v", got, inserted)
	}

	grid := redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{serviceEndpoint(t, ns, "demo-insight-pu", "resp")},
		Password: password, MaxRedirects: 16, DialTimeout: 2 * time.Second, ReadTimeout: 2 * time.Second, WriteTimeout: 2 * time.Second})
	t.Cleanup(func() { _ = grid.Close() })
	for _, f := range inserted {
		key := table + ":" + f.id
		if typ, err := grid.Type(ctx, key).Result(); err != nil || typ != "hash" {
			t.Errorf("TYPE %s in the grid: %q (%v), want hash", key, typ, err)
			continue
		}
		h, err := grid.HGetAll(ctx, key).Result()
		if err != nil {
			t.Fatalf("HGETALL %s: %v", key, err)
		}
		if h["name"] != f.name || h["qty"] != strconv.Itoa(f.qty) {
			t.Errorf("HGETALL %s: %v, want name=%s qty=%d", key, h, f.name, f.qty)
		}
	}

	written := fruit{"c", "cherry", 7}
	if err := grid.HSet(ctx, table+":"+written.id, "name", written.name, "qty", strconv.Itoa(written.qty)).Err(); err != nil {
		t.Fatalf("HSET through the grid: %v", err)
	}
	if got, want := selectFruit(ctx, t, db, table), append(slices.Clone(inserted), written); !slices.Equal(got, want) {
		t.Errorf("SELECT after a Redis client's HSET: %v, want %v", got, want)
	}
}

// selectFruit reads every row of table in id order.
func selectFruit(ctx context.Context, t *testing.T, db *sql.DB, table string) []fruit {
	t.Helper()
	rows, err := db.QueryContext(ctx, "SELECT id, name, qty FROM "+table+" ORDER BY id")
	if err != nil {
		t.Fatalf("SELECT: %v", err)
	}
	defer rows.Close()
	var out []fruit
	for rows.Next() {
		var f fruit
		if err := rows.Scan(&f.id, &f.name, &f.qty); err != nil {
			t.Fatalf("SELECT: %v", err)
		}
		out = append(out, f)
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("SELECT: %v", err)
	}
	return out
}
