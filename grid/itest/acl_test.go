package itest

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/insightgrid/insight/grid/internal/testutil"
)

// instanceAddr is the RESP address of partition p's instance in the local grid.
func instanceAddr(p int) string { return fmt.Sprintf("127.0.0.1:%d", grid.base+10+p) }

// TestACLUsersAcrossPartitions: a user created with ACL SETUSER on one partition's
// instance works on every other (the users live in the managers' etcd), with its
// commands, categories and key patterns checked there, through go-redis's cluster client
// and redis-cli; a deleted user's connections are closed everywhere.
func TestACLUsersAcrossPartitions(t *testing.T) {
	ctx := ctxT(t)
	admin := redis.NewClient(&redis.Options{Addr: instanceAddr(0)})
	t.Cleanup(func() { admin.Close() })
	t.Cleanup(func() { admin.Do(context.Background(), "ACL", "DELUSER", "itest-app", "itest-reader") })
	for _, rules := range [][]any{
		{"itest-app", "on", ">app-pw", "~app:*", "&*", "+@all", "-@dangerous"},
		{"itest-reader", "on", ">reader-pw", "%R~*", "+@read", "-@dangerous", "+@connection", "+cluster|slots", "+cluster|shards"},
	} {
		if err := admin.Do(ctx, append([]any{"ACL", "SETUSER"}, rules...)...).Err(); err != nil {
			t.Fatalf("ACL SETUSER %v: %v", rules, err)
		}
	}
	// Another partition's instance learns the users from etcd.
	far := redis.NewClient(&redis.Options{Addr: instanceAddr(2)})
	t.Cleanup(func() { far.Close() })
	testutil.Eventually(t, 10*time.Second, "itest-app on partition 2's instance", func() bool {
		v, err := far.Do(ctx, "ACL", "GETUSER", "itest-app").Result()
		return err == nil && v != nil
	})

	app := clusterClient(t, &redis.ClusterOptions{Username: "itest-app", Password: "app-pw", MaxRedirects: 3})
	reader := clusterClient(t, &redis.ClusterOptions{Username: "itest-reader", Password: "reader-pw", MaxRedirects: 3})
	// Keys on every partition: app may write app:*, nothing else.
	for i := range 30 {
		key := fmt.Sprintf("app:%d", i)
		if err := app.Set(ctx, key, i, 0).Err(); err != nil {
			t.Fatalf("SET %s as itest-app: %v", key, err)
		}
		if v, err := reader.Get(ctx, key).Int(); err != nil || v != i {
			t.Fatalf("GET %s as itest-reader: %v %v", key, v, err)
		}
	}
	refused := []struct {
		what string
		err  error
		want string
	}{
		{"SET other as itest-app", app.Set(ctx, "other", 1, 0).Err(), "NOPERM this user has no permissions to access one of the keys used as arguments"},
		{"FLUSHALL as itest-app (@dangerous)", app.Do(ctx, "FLUSHALL").Err(), "NOPERM this user has no permissions to run the 'flushall' command"},
		{"SET as itest-reader (@write)", reader.Set(ctx, "app:0", 1, 0).Err(), "NOPERM this user has no permissions to run the 'set' command"},
		{"KEYS as itest-reader (@dangerous)", reader.Do(ctx, "KEYS", "*").Err(), "NOPERM this user has no permissions to run the 'keys' command"},
	}
	for _, r := range refused {
		if r.err == nil || r.err.Error() != r.want {
			t.Errorf("%s: %v, want %q", r.what, r.err, r.want)
		}
	}
	if err := redis.NewClient(&redis.Options{Addr: instanceAddr(1), Username: "itest-app", Password: "wrong"}).Ping(ctx).Err(); err == nil ||
		!strings.Contains(err.Error(), "WRONGPASS invalid username-password pair or user is disabled.") {
		t.Errorf("a wrong password: %v, want WRONGPASS", err)
	}

	redisCLI(t, ctx)

	// A change made on partition 1's instance applies on partition 2's to the next command
	// of a connection authenticated there; a deletion closes it.
	conn := redis.NewClient(&redis.Options{Addr: instanceAddr(2), Username: "itest-app", Password: "app-pw", PoolSize: 1, MaxRetries: -1})
	t.Cleanup(func() { conn.Close() })
	if err := conn.Ping(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	mid := redis.NewClient(&redis.Options{Addr: instanceAddr(1)})
	t.Cleanup(func() { mid.Close() })
	if err := mid.Do(ctx, "ACL", "SETUSER", "itest-app", "-ping").Err(); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 10*time.Second, "PING refused on partition 2 after -ping on partition 1", func() bool {
		err := conn.Ping(ctx).Err()
		return err != nil && err.Error() == "NOPERM this user has no permissions to run the 'ping' command"
	})
	if n, err := mid.Do(ctx, "ACL", "DELUSER", "itest-app").Int(); err != nil || n != 1 {
		t.Fatalf("ACL DELUSER itest-app: %v %v", n, err)
	}
	testutil.Eventually(t, 10*time.Second, "the deleted user's connection on partition 2 closed", func() bool {
		err := conn.Do(ctx, "ACL", "WHOAMI").Err()
		return err != nil && !strings.HasPrefix(err.Error(), "NOPERM")
	})
	if err := redis.NewClient(&redis.Options{Addr: instanceAddr(0), Username: "itest-app", Password: "app-pw"}).Ping(ctx).Err(); err == nil ||
		!strings.HasPrefix(err.Error(), "WRONGPASS") {
		t.Errorf("AUTH as the deleted user: %v, want WRONGPASS", err)
	}
}

// redisCLI runs redis-cli --user --pass against partition 2's instance: allowed and
// refused commands, as the user typed them.
func redisCLI(t *testing.T, ctx context.Context) {
	t.Helper()
	cli, err := exec.LookPath("redis-cli")
	if err != nil {
		t.Log("redis-cli not installed (Debian: apt-get install -y redis-tools): skipping its part")
		return
	}
	run := func(args ...string) string {
		cmd := exec.CommandContext(ctx, cli, append([]string{"-c", "--no-auth-warning", "-p", fmt.Sprint(grid.base + 12), "--user", "itest-app", "--pass", "app-pw"}, args...)...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("redis-cli %v: %v\n%s", args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"SET", "app:cli", "v"}, "OK"},
		{[]string{"GET", "app:cli"}, "v"},
		{[]string{"ACL", "WHOAMI"}, "itest-app"},
		{[]string{"GET", "secret"}, "NOPERM this user has no permissions to access one of the keys used as arguments"},
		{[]string{"FLUSHALL"}, "NOPERM this user has no permissions to run the 'flushall' command"},
	} {
		if got := run(tc.args...); got != tc.want {
			t.Errorf("redis-cli --user itest-app %v: %q, want %q", tc.args, got, tc.want)
		}
	}
}
