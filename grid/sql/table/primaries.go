package table

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/redis/go-redis/v9"
)

// errPrimariesClosed is a statement that visits every primary after the endpoint closed.
var errPrimariesClosed = errors.New("the SQL endpoint is closing: no connection to the grid's primaries")

// primaries reaches the grid's primaries at the addresses CLUSTER SLOTS names, for the
// statements that visit every primary (scans, deleting a whole table). The cluster
// client's own list of masters cannot serve them everywhere: go-redis replaces loopback
// node addresses with its seed's host when it read the map through a seed that is a host
// name, which folds every node into one on clusters whose pods have loopback addresses
// (the project's local cluster, where a Service name is the seed).
//
// It keeps one connection pool per primary. The pool of an address that leaves the
// partition map (a failover, a re-partitioning) is closed once no statement uses it, so
// the endpoint does not hold connections to every address a primary ever had; close
// closes them all when the endpoint stops.
type primaries struct {
	rdb *redis.ClusterClient

	mu     sync.Mutex
	pools  map[string]*primaryPool
	closed bool
}

// primaryPool is the connection pool to one primary and the statements using it now.
type primaryPool struct {
	c       *redis.Client
	users   int
	dropped bool // no longer in the map: closed when the last user is done
}

// acquire returns the pools of addrs, each counted as used until release, after dropping
// the pools of addresses the map no longer names.
func (p *primaries) acquire(addrs map[string]bool) (map[string]*primaryPool, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, errPrimariesClosed
	}
	for addr, pp := range p.pools {
		if !addrs[addr] {
			delete(p.pools, addr)
			pp.dropped = true
			if pp.users == 0 {
				_ = pp.c.Close()
			}
		}
	}
	out := make(map[string]*primaryPool, len(addrs))
	for addr := range addrs {
		pp, ok := p.pools[addr]
		if !ok {
			pp = &primaryPool{c: p.newClient(addr)}
			if p.pools == nil {
				p.pools = map[string]*primaryPool{}
			}
			p.pools[addr] = pp
		}
		pp.users++
		out[addr] = pp
	}
	return out, nil
}

// release ends a use of each pool of acquired, closing a dropped one nobody uses any more.
func (p *primaries) release(acquired map[string]*primaryPool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, pp := range acquired {
		pp.users--
		if pp.dropped && pp.users == 0 {
			_ = pp.c.Close()
		}
	}
}

// newClient is a connection pool to the primary at addr, with the cluster client's
// credentials, TLS and timeouts.
func (p *primaries) newClient(addr string) *redis.Client {
	o := p.rdb.Options()
	return redis.NewClient(&redis.Options{
		Addr: addr, Username: o.Username, Password: o.Password, TLSConfig: o.TLSConfig, Protocol: o.Protocol,
		DialTimeout: o.DialTimeout, ReadTimeout: o.ReadTimeout, WriteTimeout: o.WriteTimeout, PoolSize: o.PoolSize,
	})
}

// close closes every pool of the map, in use or not (the endpoint is stopping), and
// refuses later statements; a dropped pool still in use is closed by its last release.
func (p *primaries) close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil
	}
	p.closed = true
	var errs []error
	for addr, pp := range p.pools {
		if err := pp.c.Close(); err != nil {
			errs = append(errs, fmt.Errorf("closing the connections to the primary %s: %w", addr, err))
		}
	}
	p.pools = nil
	return errors.Join(errs...)
}

// forEach runs fn on every primary of view (a slotView) at once and returns the first
// error; an error cancels the others.
func (p *primaries) forEach(ctx context.Context, view []string, fn func(ctx context.Context, c *redis.Client) error) error {
	acquired, err := p.acquire(primariesOf(view))
	if err != nil {
		return err
	}
	defer p.release(acquired)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg    sync.WaitGroup
		once  sync.Once
		first error
	)
	for _, pp := range acquired {
		wg.Go(func() {
			if err := fn(ctx, pp.c); err != nil {
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
