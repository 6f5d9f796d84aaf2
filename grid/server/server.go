// Package server is the RESP front end of a data instance: it accepts client connections,
// parses commands with package resp, routes them with the Redis Cluster rules (CROSSSLOT,
// MOVED to the partition's primary) against the current cluster.View, and runs them on
// the store. One goroutine per connection; replies are flushed when the connection has no
// more input buffered, so pipelines are answered in one write. It must not depend on etcd:
// whoever watches the cluster state hands it views with SetView.
package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/insightgrid/insight/grid/acl"
	"github.com/insightgrid/insight/grid/cluster"
	"github.com/insightgrid/insight/grid/resp"
	"github.com/insightgrid/insight/grid/script"
	"github.com/insightgrid/insight/grid/slots"
	"github.com/insightgrid/insight/grid/store"
)

// budgetWait is how long a client's large command waits for buffer memory that other
// clients' large commands hold before it is refused.
const budgetWait = 10 * time.Second

// Config is what a server needs besides its store.
type Config struct {
	// RequirePass, when set, makes clients AUTH (or HELLO ... AUTH) first.
	RequirePass string
	// MaxMemory is the used-memory limit past which writes are refused with OOM; 0: none.
	MaxMemory int64
	// MaxMemoryCeiling is the most CONFIG SET maxmemory accepts (what the memory limit
	// leaves); 0: no ceiling.
	MaxMemoryCeiling int64
	// MaxMemoryPolicy is which keys a write past MaxMemory evicts (CONFIG SET changes it).
	MaxMemoryPolicy store.Policy
	// ProtoMaxBulkLen is the largest bulk string a client may send.
	ProtoMaxBulkLen int64
	// QueryBufferBudget is what the read buffers of large commands may hold together, over
	// all clients, beyond the room maxmemory leaves (0: no bound).
	QueryBufferBudget int64
	// Partition and Instance identify this instance for INFO.
	Partition, Instance int
	Version             string
	Logger              *slog.Logger
	// NotifyKeyspaceEvents is notify-keyspace-events at start, in Redis's syntax ("": no
	// keyspace notifications; CONFIG SET changes it).
	NotifyKeyspaceEvents string
	// InternalPort says the internal commands (REPLSYNC, SLOTIMPORT, PUBLISHLOCAL) are
	// served only on the connections ServeInternal accepts (the replication port, mutual
	// TLS); false: on every connection.
	InternalPort bool
	// InternalTLS, when set, is the client side of the mutual TLS pub/sub forwarding dials
	// the other instances' replication ports with (cluster.Instance.InternalAddress).
	InternalTLS *tls.Config
	// Replication (required) decides whether this instance serves its partition and makes
	// replies wait until what they depend on is on the backup: the partition's repl.Node,
	// or Standalone for an instance without a backup.
	Replication Replication
}

// Replication is the data path's view of a partition's replication (package repl).
type Replication interface {
	// Admit is asked before a command on this instance's partition: a redirect address,
	// an error reply, or neither when the command may run.
	Admit() (redirect, errReply string)
	// Barrier is the sequence the reply to a write, or to a read of slot, must wait for.
	Barrier(write bool, slot int) uint64
	// Wait blocks until seq is safe to acknowledge; false: the replies must not be sent.
	Wait(seq uint64) bool
	// Attach takes over a connection that sent REPLSYNC: a backup's replication stream.
	Attach(nc net.Conn, buffered []byte, args [][]byte)
	// Status reports roles, epoch and offsets for INFO and CLUSTER SHARDS.
	Status() cluster.InstanceStatus
}

// Server serves RESP clients on listeners given to Serve.
type Server struct {
	cfg     Config
	store   *store.Store
	log     *slog.Logger
	view    atomic.Pointer[cluster.View]
	cmds    map[string]*command
	metrics *metrics
	started time.Time
	budget  *resp.Budget // nil: read buffers unbounded

	nextID      atomic.Int64
	connsTotal  atomic.Int64
	cmdsTotal   atomic.Int64
	oomRejected atomic.Int64
	errStats    errorStats    // INFO errorstats
	conf        configState   // CONFIG SET's stored parameters
	keyEvents   atomic.Uint32 // notify-keyspace-events, a notifyClass (notify.go)

	// blocked are the clients parked in blocking commands (block.go).
	blocked blockedClients

	// gates serialise the commands on a migrating slot with the copying of its keys: a
	// command holds its slot's gate for reading, a batch of keys on its way out for writing.
	gates [slots.Count]sync.RWMutex

	pubsub pubsubRegistry

	// users are the ACL users; aclStore keeps them (cmd_acl.go).
	users    *acl.Users
	aclStore acl.Store
	aclFile  string                      // --aclfile: ACL SAVE refuses to write it
	aclLoad  func(context.Context) error // ACL LOAD: nil without an ACL file

	// watching are the connections with WATCHed keys (cmd_multi.go).
	watching watchRegistry

	// engine compiles and runs Lua scripts; scripts are those running (cmd_script.go).
	engine  *script.Engine
	scripts scriptRegistry
	fnMu    sync.Mutex // serialises FUNCTION changes (cmd_function.go)

	mu        sync.Mutex
	listeners map[net.Listener]struct{}
	conns     map[*conn]struct{}
	closed    bool
	wg        sync.WaitGroup
}

// New returns a server on st registering its metrics with reg.
func New(cfg Config, st *store.Store, reg prometheus.Registerer) (*Server, error) {
	if cfg.Replication == nil {
		return nil, errors.New("server.Config.Replication is nil: give the partition's replication, or server.Standalone{} for an instance without a backup")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.ProtoMaxBulkLen <= 0 {
		cfg.ProtoMaxBulkLen = resp.DefaultMaxBulkLen
	}
	s := &Server{
		cfg:       cfg,
		store:     st,
		log:       cfg.Logger,
		started:   time.Now(),
		listeners: map[net.Listener]struct{}{},
		conns:     map[*conn]struct{}{},
	}
	if cfg.QueryBufferBudget > 0 {
		s.budget = resp.NewBudget(cfg.QueryBufferBudget, func() int64 {
			if m := st.MaxMemory(); m > 0 {
				return m - st.UsedMemory()
			}
			return 0
		}, budgetWait)
	}
	st.SetMaxMemory(cfg.MaxMemory)
	st.SetPolicy(cfg.MaxMemoryPolicy)
	st.TrackChanges() // WATCH sees every change (cmd_multi.go)
	// Expiry and eviction wake blocked clients (block.go) and send keyspace events (notify.go).
	st.SetKeyEvents(s.storeKeyEvent)
	if err := ValidateNotifyKeyspaceEvents(cfg.NotifyKeyspaceEvents); err != nil {
		return nil, err
	}
	classes, _ := parseNotifyClasses(cfg.NotifyKeyspaceEvents)
	s.cmds = commandTable()
	s.newUsers(newCatalog(s.cmds))
	s.engine = script.New(script.Limits{}, redisVersion)
	s.scripts.thresholdMs.Store(defaultBusyThreshold)
	st.OnFunctions(s.loadStoredFunctions) // a backup's replicated FUNCTION changes
	s.loadStoredFunctions(st.Functions())
	m, err := newMetrics(s, reg)
	if err != nil {
		return nil, err
	}
	s.metrics = m
	s.setKeyEvents(classes)
	return s, nil
}

// LockSlot keeps every command off slot until unlock is called: the keys moving out of
// the slot are copied and deleted meanwhile.
func (s *Server) LockSlot(slot int) (unlock func()) {
	g := &s.gates[slot]
	g.Lock()
	return g.Unlock
}

// SetView installs the routing table commands use from now on.
func (s *Server) SetView(v *cluster.View) {
	s.view.Store(v)
	s.redirectBlocked(v)
	s.dropMovedShardChannels(v)
	s.invalidateMovedWatches(v)
	s.updateForwarders(v)
}

// View is the current routing table, nil before the first one arrives.
func (s *Server) View() *cluster.View { return s.view.Load() }

// Clients is the number of connected clients.
func (s *Server) Clients() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

// Serve accepts client connections on ln until Close; it returns nil after Close. A
// listener of *tls.Conn (tls.NewListener) makes its clients TLS clients: redirected to
// the other nodes' TLS ports (cluster.Node.ClientAddress).
func (s *Server) Serve(ln net.Listener) error { return s.serve(ln, false) }

// ServeInternal accepts the other instances' internal links on ln (the replication port,
// behind mutual TLS) until Close: the connections the internal commands are served on
// when Config.InternalPort is set.
func (s *Server) ServeInternal(ln net.Listener) error { return s.serve(ln, true) }

func (s *Server) serve(ln net.Listener, internal bool) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return errors.New("server closed")
	}
	s.listeners[ln] = struct{}{}
	s.mu.Unlock()
	var delay time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			s.mu.Lock()
			closed := s.closed
			s.mu.Unlock()
			if closed {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, errors.ErrUnsupported) {
				return fmt.Errorf("accept on %s: %w", ln.Addr(), err)
			}
			// Out of file descriptors and similar: back off instead of spinning, as net/http does.
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			s.log.Warn("accept failed", "addr", ln.Addr().String(), "err", err, "retryIn", delay)
			time.Sleep(delay)
			continue
		}
		delay = 0
		c := s.newConn(nc)
		c.internal = internal
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			nc.Close()
			return nil
		}
		s.conns[c] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go c.serve()
	}
}

// Close stops accepting, closes every connection and waits for their goroutines, or for
// ctx to end.
func (s *Server) Close(ctx context.Context) error {
	s.stopForwarders()
	s.mu.Lock()
	s.closed = true
	s.scripts.abandonAll()
	for ln := range s.listeners {
		ln.Close()
	}
	for c := range s.conns {
		c.nc.Close()
	}
	s.mu.Unlock()
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("closing client connections: %w", ctx.Err())
	}
}

// conn is one client connection and its session state.
type conn struct {
	s *Server
	// lowThread: this goroutine is locked to a thread a busy script lowered to the least
	// CPU priority (lowerThread); the connection moves to a new goroutine before its
	// next command and the thread ends with this one.
	lowThread bool
	nc        net.Conn
	rd        *resp.Reader
	wr        *resp.Writer
	id        int64
	addr      string
	laddr     string
	created   time.Time
	authed    bool
	user      atomic.Pointer[acl.Handle] // the user authenticated as (default at first)
	closing   bool                       // QUIT: close after the reply is flushed
	// tls: the client is on TLS (redirects name TLS ports); internal: accepted by
	// ServeInternal (the internal commands are allowed).
	tls      bool
	internal bool

	// Read by CLIENT LIST from other connections.
	lastCmd atomic.Pointer[command]
	lastAt  atomic.Int64 // nanoseconds since the server started (monotonic)
	mu      sync.Mutex   // guards name, libName and libVer
	name    string
	libName string
	libVer  string
	proto   atomic.Int32 // 2 or 3, mirrored for CLIENT LIST

	tally tally // counters not yet added to the shared ones (stats.go)
	// ended is when the last command ended (since the server started); chained: nothing
	// but the parsing of the next command, from input already read, happened since, so
	// that reading of the clock also starts the next command.
	ended   time.Duration
	chained bool

	scratch []byte // reused for values copied out of the store
	keyBuf  [32]byte

	// Replication: the slot the current command was admitted on (-1: none), the sequence
	// the buffered replies wait for, and a REPLSYNC's arguments when the connection
	// becomes a replication stream.
	slot   int
	need   uint64
	attach [][]byte

	// Migration: ASKING was sent (for the next command), the current command follows an
	// ASKING, and the slot gate the current command holds.
	asking bool
	asked  bool
	gate   *sync.RWMutex

	// Blocking commands: the wait the current command parked the client in (nil: none),
	// and whether it is parked, for CLIENT LIST.
	waiting   *waiter
	isBlocked atomic.Bool
	ps        *subState // pub/sub: nil until the first subscription

	mx multiConn // MULTI/EXEC and WATCH (cmd_multi.go)

	absent [][]byte // keys the current command's "new" event is due for (notify.go)
	// Scripts (cmd_script.go): the one running, and the writer its commands answer into.
	run      *scriptRun
	scriptWr *resp.Writer
}

func (s *Server) newConn(nc net.Conn) *conn {
	s.connsTotal.Add(1)
	c := &conn{
		s:       s,
		nc:      nc,
		rd:      resp.NewReader(nc, s.cfg.ProtoMaxBulkLen),
		wr:      resp.NewWriter(nc),
		id:      s.nextID.Add(1),
		addr:    nc.RemoteAddr().String(),
		laddr:   nc.LocalAddr().String(),
		created: time.Now(),
		authed:  s.cfg.RequirePass == "",
	}
	c.user.Store(s.users.Default())
	_, c.tls = nc.(*tls.Conn)
	if s.budget != nil {
		c.rd.SetBudget(s.budget)
	}
	c.lastAt.Store(int64(c.created.Sub(s.started)))
	return c
}

func (c *conn) serve() {
	c.s.metrics.clients.Inc()
	c.loop()
}

// loop serves c's commands until the connection ends, or until a busy script has
// lowered this goroutine's thread: then a new goroutine goes on with c and this one
// ends, locked to the thread, which the runtime then ends too (an unprivileged process
// cannot raise a thread's priority again).
func (c *conn) loop() {
	s := c.s
	handedOff := false
	defer func() {
		if handedOff {
			return
		}
		if r := recover(); r != nil {
			// A bug in one command must cost this client its connection, not the process.
			s.log.Error("connection panic", "client", c.addr, "panic", fmt.Sprint(r))
			c.releaseGate() // held by the command that panicked: the slot must not stay locked
		}
		c.tally.fold(s)
		c.endPubSub()
		c.endMulti()
		c.nc.Close()
		c.rd.Release()
		s.metrics.clients.Dec()
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
		s.wg.Done()
	}()
	for {
		if c.lowThread {
			c.lowThread = false
			handedOff = true
			go c.loop()
			return
		}
		reads := c.rd.Reads()
		args, err := c.rd.ReadCommand()
		if c.rd.Reads() != reads {
			c.chained = false
		}
		if err != nil {
			var (
				pe *resp.ProtocolError
				be *resp.BudgetError
			)
			if errors.As(err, &pe) {
				s.log.Info("closing client on protocol error", "client", c.addr, "err", pe.Error())
				c.wr.Error("ERR " + pe.Error())
				c.wr.Flush()
			} else if errors.As(err, &be) {
				s.log.Warn("closing client: no buffer memory for its command", "client", c.addr, "err", be.Error())
				c.wr.Error("ERR " + be.Error())
				c.wr.Flush()
			} else if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
				s.log.Debug("client read failed", "client", c.addr, "err", err)
			}
			return
		}
		s.dispatch(c, args)
		if c.attach != nil {
			c.tally.fold(s)
			if c.wr.Flush() == nil {
				s.cfg.Replication.Attach(c.nc, c.rd.Detach(), c.attach)
			}
			return
		}
		if c.waiting != nil && !c.park() {
			return
		}
		if c.rd.Buffered() == 0 || c.wr.Len() >= resp.FlushThreshold || c.closing {
			if !c.flushReplies() {
				return
			}
		}
		if c.closing {
			return
		}
	}
}

// flushReplies sends the buffered replies once what they depend on is replicated; false
// when the connection must close.
func (c *conn) flushReplies() bool {
	c.tally.fold(c.s)
	c.chained = false
	if c.need > 0 {
		ok := c.s.cfg.Replication.Wait(c.need)
		c.need = 0
		if !ok {
			// Not acknowledged by the backup and no longer primary: the client must not
			// see these replies; for it the outcome is unknown.
			c.s.log.Debug("dropping unreplicated replies", "client", c.addr)
			return false
		}
	}
	return c.wr.Flush() == nil
}

// Exclusive runs fn with the slot's gate held exclusively, as EXEC holds it: no client's
// command on the slot runs meanwhile. WAN replication applies a remote change with it, so
// its last-writer-wins comparison and the write are one step.
func (s *Server) Exclusive(slot int, fn func()) {
	g := &s.gates[slot]
	g.Lock()
	defer g.Unlock()
	fn()
}
