package table

import (
	"context"
	"errors"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// pointBatchTimeout bounds one batch of point lookups, which no single statement's
// context owns.
const pointBatchTimeout = 10 * time.Second

// pointBatches coalesces the key lookups (HMGETs) of concurrent statements by owning
// primary: a lookup that arrives while a batch is in flight to its primary waits
// for the next batch, which starts as soon as that one ends and carries every lookup that
// arrived meanwhile in one pipeline, so the endpoint and the primary make one write and
// one read per batch instead of one per lookup. A lookup that finds no batch in flight is
// sent at once, alone: one client adds no wait. A lookup whose batch fails or is
// redirected (MOVED, ASK, a primary gone) is sent again through the cluster client, which
// follows redirects as for any command.
type pointBatches struct {
	rdb *redis.ClusterClient

	mu     sync.Mutex
	byNode map[*redis.Client]*nodeBatches
}

// nodeBatches is one primary's batches.
type nodeBatches struct {
	c        *redis.Client
	mu       sync.Mutex
	inflight bool
	next     []*pointLookup // waiting for the batch after the one in flight
}

// pointLookup is one statement's lookup, answered once done is closed.
type pointLookup struct {
	key    string
	fields []string
	cmd    *redis.SliceCmd
	done   chan struct{}
}

// hmget is HMGET key fields on the owning primary, in a batch with other statements'.
func (b *pointBatches) hmget(ctx context.Context, key string, fields []string) *redis.SliceCmd {
	node, err := b.rdb.MasterForKey(ctx, key)
	if err != nil {
		return b.rdb.HMGet(ctx, key, fields...)
	}
	l := &pointLookup{key: key, fields: fields, done: make(chan struct{})}
	b.node(node).submit([]*pointLookup{l}, true)
	select {
	case <-l.done:
	case <-ctx.Done():
		cmd := redis.NewSliceCmd(ctx, "hmget", key)
		cmd.SetErr(ctx.Err())
		return cmd
	}
	if resend(l.cmd.Err()) {
		return b.rdb.HMGet(ctx, key, fields...)
	}
	return l.cmd
}

// hmgetAll is HMGET of each key with fields, each key in a batch of its owning primary:
// the primaries' batches go at once, one of them on the caller's goroutine.
func (b *pointBatches) hmgetAll(ctx context.Context, keys, fields []string) []*redis.SliceCmd {
	byNode := map[*nodeBatches][]*pointLookup{}
	var order []*nodeBatches
	ls := make([]*pointLookup, len(keys))
	for i, k := range keys {
		ls[i] = &pointLookup{key: k, fields: fields, done: make(chan struct{})}
		node, err := b.rdb.MasterForKey(ctx, k)
		if err != nil {
			ls[i].cmd = b.rdb.HMGet(ctx, k, fields...)
			close(ls[i].done)
			continue
		}
		nb := b.node(node)
		if _, ok := byNode[nb]; !ok {
			order = append(order, nb)
		}
		byNode[nb] = append(byNode[nb], ls[i])
	}
	for i, nb := range order {
		nb.submit(byNode[nb], i == len(order)-1)
	}
	out := make([]*redis.SliceCmd, len(keys))
	for i, l := range ls {
		select {
		case <-l.done:
		case <-ctx.Done():
			cmd := redis.NewSliceCmd(ctx, "hmget", l.key)
			cmd.SetErr(ctx.Err())
			out[i] = cmd
			continue
		}
		if resend(l.cmd.Err()) {
			out[i] = b.rdb.HMGet(ctx, l.key, fields...)
			continue
		}
		out[i] = l.cmd
	}
	return out
}

// submit sends ls in the next batch: at once when none is in flight (on this goroutine
// when here, else on a goroutine of its own), else after the one in flight.
func (nb *nodeBatches) submit(ls []*pointLookup, here bool) {
	nb.mu.Lock()
	if nb.inflight {
		nb.next = append(nb.next, ls...)
		nb.mu.Unlock()
		return
	}
	nb.inflight = true
	nb.mu.Unlock()
	if here {
		nb.run(ls)
	} else {
		go nb.run(ls)
	}
}

func (b *pointBatches) node(c *redis.Client) *nodeBatches {
	b.mu.Lock()
	defer b.mu.Unlock()
	nb, ok := b.byNode[c]
	if !ok {
		if b.byNode == nil {
			b.byNode = map[*redis.Client]*nodeBatches{}
		}
		nb = &nodeBatches{c: c}
		b.byNode[c] = nb
	}
	return nb
}

// run sends the lookups (one: the command alone; more: one pipeline), then starts the
// next batch if lookups wait for one.
func (nb *nodeBatches) run(ls []*pointLookup) {
	ctx, cancel := context.WithTimeout(context.Background(), pointBatchTimeout)
	if len(ls) == 1 {
		ls[0].cmd = nb.c.HMGet(ctx, ls[0].key, ls[0].fields...)
	} else {
		_, _ = nb.c.Pipelined(ctx, func(p redis.Pipeliner) error {
			for _, l := range ls {
				l.cmd = p.HMGet(ctx, l.key, l.fields...)
			}
			return nil
		})
	}
	cancel()
	for _, l := range ls {
		close(l.done)
	}
	nb.mu.Lock()
	next := nb.next
	nb.next = nil
	nb.inflight = next != nil
	nb.mu.Unlock()
	if next != nil {
		go nb.run(next)
	}
}

// resend is whether a lookup's error calls for sending it again through the cluster
// client: any but an error reply of the command itself (WRONGTYPE), which is its answer.
func resend(err error) bool {
	if err == nil {
		return false
	}
	var reply redis.Error
	if !errors.As(err, &reply) {
		return true // the connection, a timeout: the cluster client retries and reroutes
	}
	for _, p := range []string{"MOVED ", "ASK ", "TRYAGAIN", "CLUSTERDOWN", "LOADING"} {
		if strings.HasPrefix(err.Error(), p) {
			return true
		}
	}
	return false
}
