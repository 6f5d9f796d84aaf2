package repl

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/insightgrid/insight/grid/cluster"
	"github.com/insightgrid/insight/grid/internal/tlsconf"
)

// follower is a backup's connection to its primary: it applies the stream and
// acknowledges it, reconnecting until stopped.
type follower struct {
	n        *Node
	addr     string
	lastRecv atomic.Int64  // mono time of the last frame received
	lastAck  atomic.Int64  // mono time of the last acknowledgement sent
	applied  atomic.Uint64 // last sequence applied
	epoch    atomic.Int64  // epoch of the last sequence applied
	promoted atomic.Int64  // epoch a planned handover made this node primary of
	// refused: since the stream ended, the primary's address refused a connection (no
	// process listens there: the primary is gone). Cleared by the next connection.
	refused atomic.Bool

	quit     chan struct{}
	finished chan struct{}
	once     sync.Once
	mu       sync.Mutex
	nc       net.Conn
}

// promotion is a record a handing-over primary sent with its 'p' frame.
type promotion struct {
	rec cluster.Record
	rev int64
}

// follow starts following the primary at addr from the node's position.
func (n *Node) follow(ctx context.Context, addr string) *follower {
	f := &follower{n: n, addr: addr, quit: make(chan struct{}), finished: make(chan struct{})}
	f.applied.Store(n.pos)
	f.epoch.Store(n.posEpoch)
	f.lastRecv.Store(mono())
	go f.run(ctx)
	return f
}

func (f *follower) done() bool {
	select {
	case <-f.finished:
		return true
	default:
		return false
	}
}

// stop ends the follower; with wait, it returns only once nothing more will be applied
// or acknowledged. It never takes the node's lock, so it may be called with it held.
func (f *follower) stop(wait bool) {
	f.once.Do(func() {
		close(f.quit)
		f.mu.Lock()
		if f.nc != nil {
			f.nc.Close()
		}
		f.mu.Unlock()
	})
	if wait {
		<-f.finished
	}
	f.n.pos, f.n.posEpoch = f.applied.Load(), f.epoch.Load()
}

func (f *follower) stopped() bool {
	select {
	case <-f.quit:
		return true
	default:
		return false
	}
}

func (f *follower) run(ctx context.Context) {
	defer close(f.finished)
	n := f.n
	failures := 0
	for !f.stopped() && ctx.Err() == nil {
		received := f.lastRecv.Load()
		err := f.session()
		if f.stopped() {
			return
		}
		if f.lastRecv.Load() != received {
			failures = 0
		}
		if errors.Is(err, syscall.ECONNREFUSED) && !f.refused.Load() {
			f.refused.Store(true)
			n.poke() // the node may take over now rather than after the primary's silence
		}
		// The first failure in a row is news, and is retried at once (a stream that ended
		// because the primary died is told from one cut short by a connection refused);
		// the retries every ReplTimeout/5 are not.
		level := slog.LevelDebug
		wait := n.cfg.ReplTimeout / 5
		if failures == 0 {
			level, wait = slog.LevelInfo, 0
		}
		failures++
		n.log.Log(context.Background(), level, "replication from the primary interrupted, reconnecting", "partition", n.cfg.Partition, "primary", f.addr, "err", err)
		select {
		case <-f.quit:
			return
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}

var errFenced = errors.New("frame from an older epoch refused")

// session is one connection to the primary.
func (f *follower) session() error {
	n := f.n
	d := net.Dialer{Timeout: n.cfg.ReplTimeout}
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		select {
		case <-f.quit:
			cancel()
		case <-ctx.Done():
		}
	}()
	nc, err := tlsconf.DialContext(ctx, &d, n.cfg.TLS, f.addr)
	cancel()
	if err != nil {
		return err
	}
	f.mu.Lock()
	if f.stopped() {
		f.mu.Unlock()
		nc.Close()
		return nil
	}
	f.nc = nc
	f.refused.Store(false)
	f.mu.Unlock()
	defer nc.Close()
	br := bufio.NewReaderSize(nc, 256<<10)
	bw := bufio.NewWriterSize(nc, 4<<10)
	_ = nc.SetDeadline(time.Now().Add(2 * n.cfg.ReplTimeout))
	if n.cfg.Password != "" {
		writeCommand(bw, "AUTH", n.cfg.Password)
		if err := bw.Flush(); err != nil {
			return err
		}
		if line, err := readLine(br); err != nil || line != "+OK" {
			return fmt.Errorf("AUTH at the primary: %q %v", line, err)
		}
	}
	writeCommand(bw, "REPLSYNC", n.id, n.run, strconv.FormatInt(f.epoch.Load(), 10), strconv.FormatUint(f.applied.Load(), 10))
	if err := bw.Flush(); err != nil {
		return err
	}
	line, err := readLine(br)
	if err != nil {
		return err
	}
	fields := strings.Fields(line)
	if len(fields) != 3 || (fields[0] != "+CONTINUE" && fields[0] != "+FULLSYNC") {
		return fmt.Errorf("primary refused REPLSYNC: %s", line)
	}
	_ = nc.SetDeadline(time.Time{})
	f.lastRecv.Store(mono())
	snapshot := fields[0] == "+FULLSYNC"
	var stamp, snapSeq, hbHead uint64
	var snapEpoch, hbEpoch int64
	fr := frameReader{r: br}
	ack := make([]byte, 0, 32)
	// The read deadline is moved at most every ReplTimeout/4, not before every frame (a
	// timer change per replicated write): the stream is given up after 1.75 to 2
	// ReplTimeouts of silence.
	var deadlineSet int64 = -1 << 62
	for {
		if now := mono(); now-deadlineSet > int64(n.cfg.ReplTimeout/4) {
			_ = nc.SetReadDeadline(time.Now().Add(2 * n.cfg.ReplTimeout))
			deadlineSet = now
		}
		typ, body, err := fr.next()
		if err != nil {
			return err
		}
		f.lastRecv.Store(mono())
		switch typ {
		case frameHeartbeat:
			if len(body) < 24 {
				return errBadFrame
			}
			hbEpoch, hbHead = int64(binary.BigEndian.Uint64(body)), binary.BigEndian.Uint64(body[8:])
			if hbEpoch < n.fence.Load() {
				return errFenced
			}
			stamp = binary.BigEndian.Uint64(body[16:])
		case frameOp:
			if len(body) < 16 {
				return errBadFrame
			}
			seq, ep := binary.BigEndian.Uint64(body), int64(binary.BigEndian.Uint64(body[8:]))
			if ep < n.fence.Load() {
				return errFenced
			}
			// A sequence already applied (a snapshot includes it) is skipped, but still
			// ends the batch below: the primary sends its next batch on the acknowledgement.
			if seq > f.applied.Load() {
				if seq != f.applied.Load()+1 {
					return fmt.Errorf("replication gap: got %d after %d", seq, f.applied.Load())
				}
				if err := n.apply(body[16:]); err != nil {
					return err
				}
				if d := n.cfg.Disk; d != nil {
					d.Append(uint64(ep), seq, body[16:]) // after the store has it: a snapshot of the store then holds it
				}
				f.epoch.Store(ep)
				f.applied.Store(seq)
			}
		case frameSnapBegin:
			v, err := u64s(body, 2)
			if err != nil {
				return err
			}
			snapEpoch, snapSeq = int64(v[0]), v[1]
			n.cfg.Store.Reset()
			if w := n.cfg.WAN; w != nil {
				w.Reset()
			}
			if d := n.cfg.Disk; d != nil {
				d.Reset()
			}
			n.log.Info("loading a snapshot from the primary", "partition", n.cfg.Partition, "offset", snapSeq)
		case frameSnapOp:
			if err := n.apply(body); err != nil {
				return err
			}
			if d := n.cfg.Disk; d != nil {
				d.Load(body)
			}
		case frameSnapEnd:
			if d := n.cfg.Disk; d != nil {
				d.Loaded(uint64(snapEpoch), snapSeq)
			}
			f.epoch.Store(snapEpoch)
			f.applied.Store(snapSeq)
			snapshot = false
			n.log.Info("snapshot loaded", "partition", n.cfg.Partition, "keys", n.cfg.Store.Keys(), "offset", snapSeq)
		case framePromote:
			if len(body) < 16 {
				return errBadFrame
			}
			var p promotion
			if err := json.Unmarshal(body[16:], &p.rec); err != nil {
				return fmt.Errorf("%w: %v", errBadFrame, err)
			}
			p.rev = int64(binary.BigEndian.Uint64(body[8:]))
			f.promoted.Store(int64(binary.BigEndian.Uint64(body)))
			n.promo.Store(&p)
			n.poke()
			return nil
		default:
			return fmt.Errorf("%w: type %q", errBadFrame, typ)
		}
		if br.Buffered() == 0 && !snapshot {
			if f.applied.Load() == hbHead && hbEpoch > f.epoch.Load() {
				// Caught up with the primary of hbEpoch: this state is its state at
				// hbHead, a position it (or its successor) can continue from.
				f.epoch.Store(hbEpoch)
			}
			ack = appendFrame(ack[:0], frameAck, f.applied.Load(), stamp)
			if _, err := nc.Write(ack); err != nil {
				return err
			}
			now := mono()
			f.lastAck.Store(now)
			n.ackSent.Store(now)
		}
	}
}

// sayBye tells the primary this backup is stopping, so it records it out of sync at once.
func (f *follower) sayBye() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.nc != nil {
		_ = f.nc.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
		_, _ = f.nc.Write(appendFrame(nil, frameBye))
	}
}

func writeCommand(w *bufio.Writer, args ...string) {
	fmt.Fprintf(w, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(w, "$%d\r\n%s\r\n", len(a), a)
	}
}

func readLine(r *bufio.Reader) (string, error) {
	line, err := r.ReadString('\n')
	return strings.TrimRight(line, "\r\n"), err
}
