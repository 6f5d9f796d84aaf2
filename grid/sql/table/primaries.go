package table

import (
	"context"
	"fmt"
	"sync"

	"github.com/redis/go-redis/v9"
)

// primaries reaches the grid's primaries at the addresses CLUSTER SLOTS names, for the
// statements that visit every primary (scans, deleting a whole table). The cluster
// client's own list of masters cannot serve them everywhere: go-redis replaces loopback
// node addresses with its seed's host when it read the map through a seed that is a host
// name, which folds every node into one on clusters whose pods have loopback addresses
// (the project's local cluster, where a Service name is the seed).
type primaries struct {
	rdb *redis.ClusterClient

	mu      sync.Mutex
	clients map[string]*redis.Client
}

// client is a connection pool to the primary at addr, with the cluster client's
// credentials, TLS and timeouts.
func (p *primaries) client(addr string) *redis.Client {
	p.mu.Lock()
	defer p.mu.Unlock()
	if c, ok := p.clients[addr]; ok {
		return c
	}
	o := p.rdb.Options()
	c := redis.NewClient(&redis.Options{
		Addr: addr, Username: o.Username, Password: o.Password, TLSConfig: o.TLSConfig, Protocol: o.Protocol,
		DialTimeout: o.DialTimeout, ReadTimeout: o.ReadTimeout, WriteTimeout: o.WriteTimeout, PoolSize: o.PoolSize,
	})
	if p.clients == nil {
		p.clients = map[string]*redis.Client{}
	}
	p.clients[addr] = c
	return c
}

// forEach runs fn on every primary of view (a slotView) at once and returns the first
// error; an error cancels the others.
func (p *primaries) forEach(ctx context.Context, view []string, fn func(ctx context.Context, c *redis.Client) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg    sync.WaitGroup
		once  sync.Once
		first error
	)
	for addr := range primariesOf(view) {
		c := p.client(addr)
		wg.Go(func() {
			if err := fn(ctx, c); err != nil {
				once.Do(func() { first = err; cancel() })
			}
		})
	}
	wg.Wait()
	return first
}

// forEachNow reads the partition map and runs fn on each of its primaries.
func (p *primaries) forEachNow(ctx context.Context, fn func(ctx context.Context, c *redis.Client) error) error {
	view, err := slotView(ctx, p.rdb)
	if err != nil {
		return fmt.Errorf("reading the grid's partition map: %w", err)
	}
	return p.forEach(ctx, view, fn)
}
