package table

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// newTestPrimaries is primaries over a cluster client that is never dialled: the pools
// open connections only when a command runs, and these tests run none against a grid.
func newTestPrimaries(t *testing.T) *primaries {
	t.Helper()
	rdb := redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{"127.0.0.1:1"}, Password: "s3cret", DialTimeout: 100 * time.Millisecond})
	t.Cleanup(func() { _ = rdb.Close() })
	return &primaries{rdb: rdb}
}

// visit runs forEach over view and returns the client it handed fn for each address.
func visit(t *testing.T, p *primaries, view []string) map[string]*redis.Client {
	t.Helper()
	var mu sync.Mutex
	got := map[string]*redis.Client{}
	err := p.forEach(context.Background(), view, func(_ context.Context, c *redis.Client) error {
		mu.Lock()
		defer mu.Unlock()
		got[c.Options().Addr] = c
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// isClosed reports whether c's pool was closed: a closed client refuses every command
// before dialling.
func isClosed(c *redis.Client) bool {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	return errors.Is(c.Ping(ctx).Err(), redis.ErrClosed)
}

func TestPrimariesKeepOnePoolPerPrimaryWithTheClusterCredentials(t *testing.T) {
	p := newTestPrimaries(t)
	view := []string{"0-8191@10.0.0.1:6379", "8192-16383@10.0.0.2:6379"}
	first := visit(t, p, view)
	if len(first) != 2 || first["10.0.0.1:6379"] == nil || first["10.0.0.2:6379"] == nil {
		t.Fatalf("forEach visited %v, want both primaries", first)
	}
	if o := first["10.0.0.1:6379"].Options(); o.Password != "s3cret" || o.DialTimeout != 100*time.Millisecond {
		t.Errorf("a primary's pool has password %q, dial timeout %s; want the cluster client's", o.Password, o.DialTimeout)
	}
	again := visit(t, p, view)
	for addr, c := range first {
		if again[addr] != c {
			t.Errorf("%s: a second statement got a new pool; want the first one reused", addr)
		}
	}
}

func TestPrimariesDropThePoolOfAnAddressThatLeftTheMap(t *testing.T) {
	p := newTestPrimaries(t)
	before := visit(t, p, []string{"0-8191@10.0.0.1:6379", "8192-16383@10.0.0.2:6379"})
	// 10.0.0.2 failed over to 10.0.0.3.
	after := visit(t, p, []string{"0-8191@10.0.0.1:6379", "8192-16383@10.0.0.3:6379"})
	if !isClosed(before["10.0.0.2:6379"]) {
		t.Error("the pool of 10.0.0.2, which left the map, is still open")
	}
	if after["10.0.0.1:6379"] != before["10.0.0.1:6379"] || isClosed(after["10.0.0.1:6379"]) {
		t.Error("the pool of 10.0.0.1, still a primary, was replaced or closed")
	}
	if isClosed(after["10.0.0.3:6379"]) {
		t.Error("the new primary's pool is closed")
	}
	p.mu.Lock()
	n := len(p.pools)
	p.mu.Unlock()
	if n != 2 {
		t.Errorf("%d pools kept, want 2 (the map's primaries)", n)
	}
}

func TestPrimariesCloseALeftPoolOnlyAfterTheStatementUsingItEnds(t *testing.T) {
	p := newTestPrimaries(t)
	inUse, done := make(chan *redis.Client, 1), make(chan struct{})
	scanErr := make(chan error, 1)
	go func() {
		scanErr <- p.forEach(context.Background(), []string{"0-16383@10.0.0.2:6379"}, func(_ context.Context, c *redis.Client) error {
			inUse <- c
			<-done
			return nil
		})
	}()
	old := <-inUse
	// Meanwhile the map moved every slot to 10.0.0.3.
	visit(t, p, []string{"0-16383@10.0.0.3:6379"})
	if isClosed(old) {
		t.Fatal("the pool of 10.0.0.2 was closed while a statement still used it")
	}
	close(done)
	if err := <-scanErr; err != nil {
		t.Fatal(err)
	}
	if !isClosed(old) {
		t.Error("the pool of 10.0.0.2 is still open after its last statement ended")
	}
}

func TestPrimariesCloseEveryPoolAndRefuseLaterStatements(t *testing.T) {
	p := newTestPrimaries(t)
	pools := visit(t, p, []string{"0-8191@10.0.0.1:6379", "8192-16383@10.0.0.2:6379"})
	if err := p.close(); err != nil {
		t.Fatal(err)
	}
	for addr, c := range pools {
		if !isClosed(c) {
			t.Errorf("the pool of %s is open after close", addr)
		}
	}
	err := p.forEach(context.Background(), []string{"0-16383@10.0.0.1:6379"}, func(context.Context, *redis.Client) error {
		t.Error("fn ran after close")
		return nil
	})
	if !errors.Is(err, errPrimariesClosed) {
		t.Errorf("forEach after close: %v, want %v", err, errPrimariesClosed)
	}
	if err := p.close(); err != nil {
		t.Errorf("a second close: %v, want nil", err)
	}
}

func TestProviderCloseClosesThePools(t *testing.T) {
	rdb := redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{"127.0.0.1:1"}})
	defer rdb.Close()
	prov := NewProvider(rdb)
	pools := visit(t, prov.db.nodes, []string{"0-16383@10.0.0.1:6379"})
	if err := prov.Close(); err != nil {
		t.Fatal(err)
	}
	if !isClosed(pools["10.0.0.1:6379"]) {
		t.Error("Provider.Close left the primary's pool open")
	}
}
