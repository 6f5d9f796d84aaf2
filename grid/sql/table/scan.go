package table

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/dolthub/go-mysql-server/sql"
	"github.com/redis/go-redis/v9"
)

const (
	// scanCount is SCAN's COUNT: keys per page, and per HMGET pipeline.
	scanCount = 1000
	// scanBuffer is how many pages the primaries' scanners may run ahead of the engine:
	// the bounded buffer between the concurrent fetches and the engine's reads.
	scanBuffer = 16
)

// ErrMapChanged is returned when the grid's partition map changed while a table was
// scanned (a failover or a re-partitioning): rows may have been missed or read twice,
// so the statement fails rather than returning them.
var ErrMapChanged = errors.New("the grid's partition map changed during the table scan (failover or re-partitioning); run the statement again")

// scan reads the whole table: every primary is scanned at once (SCAN MATCH <table>:*
// TYPE hash, then one HMGET pipeline of the needed fields per page), its pages going
// into a bounded buffer that the returned iterator drains.
func (t *Table) scan(ctx *sql.Context) (sql.RowIter, error) {
	before, err := slotView(ctx, t.rdb())
	if err != nil {
		return nil, fmt.Errorf("table %s: reading the grid's partition map: %w", t.def.Name, err)
	}
	sctx, cancel := context.WithCancel(ctx)
	it := &scanIter{t: t, pages: make(chan []scanned, scanBuffer), failed: make(chan struct{}), cancel: cancel}
	fields := t.fetchFields()
	pattern := t.def.ScanPattern()
	// The rows are converted where they are fetched, on every primary's scanner at once,
	// when no column's conversion reads the session; else by the engine's goroutine.
	cols := t.columns()
	pure := t.pureConversions()
	page := func(raw []rawRow) []scanned {
		out := make([]scanned, len(raw))
		for i, r := range raw {
			out[i].raw = r
			if pure {
				out[i].row, out[i].warns = t.convert(ctx, cols, r)
				out[i].converted = true
			}
		}
		return out
	}
	go func() {
		defer close(it.pages)
		var mu sync.Mutex
		var scanned []string
		err := t.db.nodes.forEach(sctx, before, func(ctx context.Context, c *redis.Client) error {
			mu.Lock()
			scanned = append(scanned, c.Options().Addr)
			mu.Unlock()
			return scanPrimary(ctx, c, pattern, fields, page, it.pages)
		})
		if err == nil {
			err = checkView(sctx, t.rdb(), before, scanned)
		}
		if err != nil && sctx.Err() == nil {
			it.err = fmt.Errorf("table %s: scanning: %w", t.def.Name, err)
			close(it.failed)
		}
	}()
	return it, nil
}

// scanned is a row of a scanned page: as fetched, and converted when the scanner did it.
type scanned struct {
	raw       rawRow
	row       sql.Row
	warns     []string
	converted bool
}

// scanPrimary scans one primary's keys and fetches their fields, page after page, each
// made into scanned rows by page.
func scanPrimary(ctx context.Context, c *redis.Client, pattern string, fields []string, page func([]rawRow) []scanned, out chan<- []scanned) error {
	var cursor uint64
	for {
		keys, next, err := c.ScanType(ctx, cursor, pattern, scanCount, "hash").Result()
		if err != nil {
			return fmt.Errorf("SCAN on the primary %s (if it failed, run the statement again once its backup took over): %w", c.Options().Addr, err)
		}
		if len(keys) > 0 {
			rows, err := fetchRows(ctx, c, keys, fields)
			if err != nil {
				if strings.HasPrefix(err.Error(), "MOVED") || strings.HasPrefix(err.Error(), "ASK") {
					return ErrMapChanged
				}
				return fmt.Errorf("reading rows on the primary %s (if it failed, run the statement again once its backup took over): %w", c.Options().Addr, err)
			}
			select {
			case out <- page(rows):
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		if next == 0 {
			return nil
		}
		cursor = next
	}
}

// slotView is the grid's slot ranges and their primaries, as one sorted string.
func slotView(ctx context.Context, rdb *redis.ClusterClient) ([]string, error) {
	ss, err := rdb.ClusterSlots(ctx).Result() //nolint:staticcheck // the grid serves CLUSTER SLOTS; it has no CLUSTER SHARDS
	if err != nil {
		return nil, err
	}
	var out []string
	for _, s := range ss {
		if len(s.Nodes) == 0 {
			continue
		}
		out = append(out, fmt.Sprintf("%d-%d@%s", s.Start, s.End, s.Nodes[0].Addr))
	}
	sort.Strings(out)
	return out, nil
}

// primariesOf is the set of primaries of a slotView.
func primariesOf(view []string) map[string]bool {
	out := map[string]bool{}
	for _, v := range view {
		out[v[strings.IndexByte(v, '@')+1:]] = true
	}
	return out
}

// checkView fails when the scanned primaries are not the primaries of the partition
// map before the scan, or the map changed during it.
func checkView(ctx context.Context, rdb *redis.ClusterClient, before, scanned []string) error {
	after, err := slotView(ctx, rdb)
	if err != nil {
		return fmt.Errorf("reading the grid's partition map: %w", err)
	}
	if !slices.Equal(before, after) {
		rdb.ReloadState(ctx)
		return ErrMapChanged
	}
	primaries := primariesOf(before)
	seen := map[string]bool{}
	for _, a := range scanned {
		seen[a] = true
	}
	if len(seen) != len(primaries) {
		rdb.ReloadState(ctx)
		return ErrMapChanged
	}
	for a := range primaries {
		if !seen[a] {
			rdb.ReloadState(ctx)
			return ErrMapChanged
		}
	}
	return nil
}

// scanIter drains the scanners' pages. A scanner's error ends it at once: the pages
// still buffered would only precede the error.
type scanIter struct {
	t      *Table
	pages  chan []scanned
	failed chan struct{} // closed after err is set
	cancel context.CancelFunc
	err    error // set before failed and pages are closed
	page   []scanned
	closed bool
}

func (s *scanIter) Next(ctx *sql.Context) (sql.Row, error) {
	select {
	case <-s.failed:
		return nil, s.err
	default:
	}
	for len(s.page) == 0 {
		select {
		case <-s.failed:
			return nil, s.err
		case p, ok := <-s.pages:
			if !ok {
				if s.err != nil {
					return nil, s.err
				}
				return nil, io.EOF
			}
			s.page = p
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	r := s.page[0]
	s.page = s.page[1:]
	if !r.converted {
		return s.t.toRow(ctx, r.raw), nil
	}
	for _, w := range r.warns {
		ctx.Warn(1366, "%s", w)
	}
	return r.row, nil
}

// Close stops the scanners and waits for them (pages closed).
func (s *scanIter) Close(*sql.Context) error {
	if s.closed {
		return nil
	}
	s.closed = true
	s.cancel()
	timeout := time.NewTimer(10 * time.Second)
	defer timeout.Stop()
	for {
		select {
		case _, ok := <-s.pages:
			if !ok {
				return nil
			}
		case <-timeout.C:
			return nil
		}
	}
}
