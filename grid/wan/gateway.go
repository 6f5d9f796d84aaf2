package wan

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/insightgrid/insight/grid/api"
	"github.com/insightgrid/insight/grid/internal/httpjson"
	"github.com/insightgrid/insight/grid/internal/opauth"
	"github.com/insightgrid/insight/grid/slots"
)

// GatewayTarget is a site this gateway sends its site's writes to.
type GatewayTarget struct {
	Name    string
	Address string // host:port of the site's gateway
	// CAFile is the PEM CA the site's gateway certificate is signed by, TokenFile the
	// file holding the site's operator token; both are read at each connection, so they
	// may appear after the gateway starts (a site started later) and be rotated.
	CAFile, TokenFile string
	// ServerName is the name the site's certificate must carry ("": the host of Address).
	ServerName string
}

// GatewayConfig is one site's gateway: the delegator sending each partition's outbox to
// the targets, and the sink applying what the other sites send.
type GatewayConfig struct {
	Site string
	// Manager is the site's manager API (the partition map and its primaries).
	Manager *api.Client
	// Token is the site's operator token: the sink requires it of the other sites, and
	// the gateway presents it to its own site's data instances.
	Token *opauth.Source
	// Listener serves the sink; TLS, when set, wraps it (nil: plain HTTP, --insecure).
	Listener net.Listener
	TLS      *tls.Config
	// DataHTTP calls the site's data instances' HTTP ports; DataScheme is http or https.
	DataHTTP   *http.Client
	DataScheme string
	Targets    []GatewayTarget
	BatchKeys  int           // keys per batch (default 2048)
	Idle       time.Duration // the first wait before a failed delivery is retried (default 20ms)
	Logger     *slog.Logger
}

// Gateway is a running site gateway.
type Gateway struct {
	cfg GatewayConfig
	log *slog.Logger

	mu    sync.Mutex
	parts []api.Partition // the site's partition map, newest read

	sent, keys, bytes, errs, applied atomic.Int64

	// binApply holds the base URLs of the primaries whose apply takes the binary framing.
	binApply sync.Map

	rep    repairs // the repairs by digests (sync.go)
	resync resyncs // the partitions being resynchronized, per target (sync.go)
}

// PathBatch is the sink's endpoint: a gzip-compressed Batch from another site, JSON or
// in the binary framing (BatchContentType).
const PathBatch = "/v1/wan/batch"

// NewGateway returns the gateway of cfg.
func NewGateway(cfg GatewayConfig) *Gateway {
	if cfg.BatchKeys <= 0 {
		cfg.BatchKeys = 2048
	}
	if cfg.Idle <= 0 {
		cfg.Idle = 20 * time.Millisecond
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.DataHTTP == nil {
		cfg.DataHTTP = &http.Client{Timeout: 30 * time.Second}
	}
	if cfg.DataScheme == "" {
		cfg.DataScheme = "http"
	}
	return &Gateway{cfg: cfg, log: cfg.Logger}
}

// Run serves the sink and runs the delegators until ctx ends.
func (g *Gateway) Run(ctx context.Context) error {
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+PathBatch, g.sink)
	mux.HandleFunc("GET /livez", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	mux.HandleFunc("GET /readyz", g.readyz)
	g.syncRoutes(ctx, mux) // the repairs by digests (sync.go)
	mux.HandleFunc("GET "+api.PathWANStatus, func(w http.ResponseWriter, r *http.Request) {
		httpjson.Write(w, http.StatusOK, g.Status(r.Context()))
	})
	reg := prometheus.NewRegistry()
	reg.MustRegister(g)
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	// IdleTimeout closes the connections another site abandoned (a cut link) rather than
	// keeping them until the kernel gives up.
	hs := &http.Server{Handler: opauth.Guard(g.cfg.Token, g.log, mux), ReadHeaderTimeout: 5 * time.Second, IdleTimeout: 90 * time.Second, TLSConfig: g.cfg.TLS}
	errc := make(chan error, 1)
	go func() {
		var err error
		if g.cfg.TLS != nil {
			err = hs.ServeTLS(g.cfg.Listener, "", "")
		} else {
			err = hs.Serve(g.cfg.Listener)
		}
		if !errors.Is(err, http.ErrServerClosed) {
			errc <- err
		}
	}()
	var wg sync.WaitGroup
	for _, t := range g.cfg.Targets {
		wg.Add(1)
		go func() { defer wg.Done(); g.delegate(ctx, t) }()
	}
	wg.Add(1)
	go func() { defer wg.Done(); g.syncAtStart(ctx) }() // a joining site is repaired both ways (sync.go)
	var err error
	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = hs.Shutdown(sctx)
	wg.Wait()
	return err
}

// readyz is ready once the site's manager gives the partition map: the sink can route.
func (g *Gateway) readyz(w http.ResponseWriter, r *http.Request) {
	if _, err := g.partitions(r.Context(), true); err != nil {
		http.Error(w, err.Error(), http.StatusServiceUnavailable)
		return
	}
	_, _ = w.Write([]byte("ok\n"))
}

// partitions returns the site's partition map, read again when fresh is set.
func (g *Gateway) partitions(ctx context.Context, fresh bool) ([]api.Partition, error) {
	g.mu.Lock()
	parts := g.parts
	g.mu.Unlock()
	if parts != nil && !fresh {
		return parts, nil
	}
	parts, err := g.cfg.Manager.Partitions(ctx)
	if err != nil {
		return nil, fmt.Errorf("reading the site's partition map: %w", err)
	}
	g.mu.Lock()
	g.parts = parts
	g.mu.Unlock()
	return parts, nil
}

// primary is a client of partition p's primary, or nil while it has none.
func (g *Gateway) primary(parts []api.Partition, p int) *api.Client {
	for _, pt := range parts {
		if pt.ID != p {
			continue
		}
		for _, in := range pt.Instances {
			if in.ID == pt.Primary && in.HTTPAddress != "" {
				c := api.NewClient(g.cfg.DataScheme+"://"+in.HTTPAddress, g.cfg.DataHTTP)
				if g.cfg.Token != nil {
					c.Token = g.cfg.Token.Token
				}
				return c
			}
		}
	}
	return nil
}

// delegate sends every partition's outbox to target t until ctx ends: one loop per
// partition, each in timestamp order.
func (g *Gateway) delegate(ctx context.Context, t GatewayTarget) {
	running := map[int]bool{}
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		if parts, err := g.partitions(ctx, true); err == nil {
			for _, p := range parts {
				if !running[p.ID] {
					running[p.ID] = true
					wg.Add(1)
					go func(id int) { defer wg.Done(); g.drain(ctx, t, id) }(p.ID)
				}
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Second):
		}
	}
}

// drain pulls partition p's changes for t from its primary, sends them to t's gateway,
// and acknowledges them to the primary once t has applied them: a pipeline of up to
// pipelineDepth batches (pipeline), started again from the last acknowledged timestamp
// after any failure.
func (g *Gateway) drain(ctx context.Context, t GatewayTarget, p int) {
	fresh := false
	backoff := g.cfg.Idle
	var lastAck uint64 // the last acknowledgement this loop sent
	var l link
	defer l.drop()
	wait := func(d time.Duration) bool {
		select {
		case <-ctx.Done():
			return false
		case <-time.After(d):
			return true
		}
	}
	for ctx.Err() == nil {
		parts, err := g.partitions(ctx, fresh)
		fresh = false
		var prim *api.Client
		if err == nil {
			prim = g.primary(parts, p)
		}
		if prim == nil {
			fresh = true
			if !wait(200 * time.Millisecond) {
				return
			}
			continue
		}
		sent, err := g.pipeline(ctx, t, p, prim, &l, &lastAck)
		if sent {
			backoff = g.cfg.Idle
		}
		var fe *flowError
		if ctx.Err() != nil || !errors.As(err, &fe) {
			continue
		}
		g.errs.Add(1)
		switch fe.step {
		case stepPull:
			g.log.Debug("WAN pull failed", "partition", p, "target", t.Name, "err", fe.err)
			fresh = true
			if !wait(200 * time.Millisecond) {
				return
			}
		case stepSend:
			// The batches in flight are dropped: the next pull starts from the last
			// acknowledgement, and what the target applied already comes again, which
			// its policies make harmless (last-writer-wins, merges, a lua: function's
			// version it holds).
			l.drop()
			g.log.Info("WAN batch not delivered; retrying", "partition", p, "target", t.Name, "keys", fe.keys, "err", fe.err)
			backoff = min(2*backoff, 2*time.Second)
			if !wait(backoff) {
				return
			}
		case stepAck:
			// Sent again after the next pull: harmless, as above.
			fresh = true
		}
	}
}

// pipelineDepth is how many batches a delegator loop has in flight at most (pulled, not
// yet acknowledged) per partition and target.
const pipelineDepth = 4

// The steps of a delegator loop, as a flowError names them.
const (
	stepPull = "pull"
	stepSend = "send"
	stepAck  = "ack"
)

// flowError is a delegator loop's failed step.
type flowError struct {
	step string
	keys int // the batch's, for a send
	err  error
}

func (e *flowError) Error() string { return e.step + ": " + e.err.Error() }
func (e *flowError) Unwrap() error { return e.err }

// flight is a batch a delegator loop pulled and has not acknowledged yet.
type flight struct {
	b    Batch
	done chan struct{} // closed once the target answered (err nil: applied)
	err  error
}

// pipeline pulls partition p's batches for t from prim, each after the previous one's
// Upto, and sends each at once, up to pipelineDepth in flight; it acknowledges in order,
// a batch's Upto once it and every earlier one were applied, and returns at the first
// failure (or when ctx ends), reporting whether a batch was delivered. A batch holding a
// key an earlier one in flight holds is sent after it, so a key's versions reach the
// target in their order (as one batch at a time did). A primary that does not take the
// pull's after cursor (older) gets one batch at a time. *lastAck is the last
// acknowledgement the loop sent.
func (g *Gateway) pipeline(ctx context.Context, t GatewayTarget, p int, prim *api.Client, l *link, lastAck *uint64) (sent bool, err error) {
	if err := l.open(t); err != nil {
		return false, &flowError{step: stepSend, err: err}
	}
	pctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() { cancel(); wg.Wait() }()
	type pulled struct {
		b   Batch
		err error
	}
	pulls := make(chan pulled, 1)
	pulling, cursor := false, false
	var fl []*flight
	holding := map[string]*flight{} // the keys of the batches in flight: the last one holding each
	for {
		if !pulling && (len(fl) == 0 || cursor && len(fl) < pipelineDepth) {
			req := map[string]any{"target": t.Name, "max": g.cfg.BatchKeys, "waitMs": pullWaitMS}
			if len(fl) > 0 {
				req["after"] = fl[len(fl)-1].b.Upto
			}
			pulling = true
			wg.Add(1)
			go func() {
				defer wg.Done()
				b, err := pull(pctx, prim, req)
				pulls <- pulled{b, err}
			}()
		}
		var head <-chan struct{}
		if len(fl) > 0 {
			head = fl[0].done
		}
		select {
		case <-ctx.Done():
			return sent, ctx.Err()
		case r := <-pulls:
			pulling = false
			if r.err != nil {
				return sent, &flowError{step: stepPull, err: r.err}
			}
			cursor = r.b.Cursor
			g.noteResync(ctx, t, p, r.b.Resync) // a target back in sync is repaired (sync.go)
			prev := *lastAck
			if len(fl) > 0 {
				prev = fl[len(fl)-1].b.Upto
			}
			if len(r.b.Changes) == 0 && (r.b.Upto == 0 || r.b.Upto == prev) {
				continue // nothing new (a long poll that ended)
			}
			fl = append(fl, g.launch(pctx, t, l, r.b, holding, &wg))
		case <-head:
			n, upto := 0, uint64(0)
			for ; n < len(fl) && isDone(fl[n]); n++ {
				if fl[n].err != nil {
					return sent, &flowError{step: stepSend, keys: len(fl[n].b.Changes), err: fl[n].err}
				}
				sent = sent || len(fl[n].b.Changes) > 0
				upto = fl[n].b.Upto
				for _, c := range fl[n].b.Changes {
					if holding[string(c.Key)] == fl[n] {
						delete(holding, string(c.Key))
					}
				}
			}
			fl = fl[n:]
			if upto > 0 && upto != *lastAck {
				var acked map[string]uint64
				if err := prim.Do(ctx, http.MethodPost, "/v1/wan/ack", map[string]any{"target": t.Name, "upto": upto}, &acked); err != nil {
					return sent, &flowError{step: stepAck, err: err}
				}
				*lastAck = upto
			}
		}
	}
}

// launch starts sending b (a batch with no changes is done at once) once the batches in
// flight holding one of its keys are applied, and notes its keys in holding.
func (g *Gateway) launch(ctx context.Context, t GatewayTarget, l *link, b Batch, holding map[string]*flight, wg *sync.WaitGroup) *flight {
	f := &flight{b: b, done: make(chan struct{})}
	if len(b.Changes) == 0 {
		close(f.done)
		return f
	}
	var after []*flight
	for _, c := range b.Changes {
		if d := holding[string(c.Key)]; d != nil && !slices.Contains(after, d) {
			after = append(after, d)
		}
		holding[string(c.Key)] = f
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(f.done)
		for _, d := range after {
			select {
			case <-ctx.Done():
				f.err = ctx.Err()
				return
			case <-d.done:
				if d.err != nil {
					f.err = fmt.Errorf("an earlier batch was not delivered: %w", d.err)
					return
				}
			}
		}
		f.err = g.post(ctx, t, l, f.b)
	}()
	return f
}

// isDone reports whether f's send has finished.
func isDone(f *flight) bool {
	select {
	case <-f.done:
		return true
	default:
		return false
	}
}

// pull asks prim for a batch (POST /v1/wan/pull with req), in the binary framing when
// the primary takes it (JSON from an older one).
func pull(ctx context.Context, prim *api.Client, req map[string]any) (Batch, error) {
	body, err := json.Marshal(req)
	if err != nil {
		return Batch{}, fmt.Errorf("encoding the pull request: %w", err)
	}
	resp, err := prim.Post(ctx, "/v1/wan/pull", bytes.NewReader(body), "application/json", BatchContentType+", application/json")
	if err != nil {
		return Batch{}, fmt.Errorf("pull: %w", err)
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(io.LimitReader(resp.Body, 1<<30))
	if err != nil {
		return Batch{}, fmt.Errorf("pull at %s: reading the answer: %w", prim.Via, err)
	}
	var b Batch
	if IsBatchType(resp.Header.Get("Content-Type")) {
		b, err = DecodeBatch(answer)
	} else {
		err = json.Unmarshal(answer, &b)
	}
	if err != nil {
		return Batch{}, fmt.Errorf("pull at %s: the answer: %w", prim.Via, err)
	}
	return b, nil
}

// pullWaitMS is how long a pull waits at the primary for a write when its outbox is
// empty (a long poll): a write goes out at once, an idle partition costs a request a
// second.
const pullWaitMS = 1000

// targetClient is an HTTPS client trusting t's CA, and t's token (read now).
func targetClient(t GatewayTarget) (*http.Client, string, error) {
	var tok []byte // none without a token file (--insecure sites)
	if t.TokenFile != "" {
		var err error
		if tok, err = os.ReadFile(t.TokenFile); err != nil {
			return nil, "", fmt.Errorf("site %s's operator token: %w", t.Name, err)
		}
	}
	// A connection per batch in flight stays open between batches.
	tr := &http.Transport{DialContext: linkDialer().DialContext, TLSHandshakeTimeout: 10 * time.Second, MaxIdleConnsPerHost: pipelineDepth}
	if t.CAFile != "" {
		pem, err := os.ReadFile(t.CAFile)
		if err != nil {
			return nil, "", fmt.Errorf("site %s's CA: %w", t.Name, err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, "", fmt.Errorf("site %s's CA %s: no PEM certificate in it", t.Name, t.CAFile)
		}
		tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12, ServerName: t.ServerName}
	}
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}, strings.TrimSpace(string(tok)), nil
}

// link is a delegator loop's connection to a target: its client keeps the TLS
// connection open across batches; after a failure it is made again, the CA and token
// read again.
type link struct {
	hc  *http.Client
	tok string
	// bin is set once the target's sink said it takes the binary framing (Accept-Post).
	bin atomic.Bool
}

// open makes l's client for t unless it has one, reading t's CA and token.
func (l *link) open(t GatewayTarget) error {
	if l.hc != nil {
		return nil
	}
	var err error
	l.hc, l.tok, err = targetClient(t)
	return err
}

// drop closes l's connections after a failure: the next call makes them again.
func (l *link) drop() {
	if l.hc != nil {
		l.hc.CloseIdleConnections()
		l.hc = nil
	}
	l.bin.Store(false)
}

// send delivers a batch to t's gateway over l and returns once t applied it; a failure
// drops l's connections.
func (g *Gateway) send(ctx context.Context, t GatewayTarget, l *link, b Batch) error {
	if err := l.open(t); err != nil {
		return err
	}
	if err := g.post(ctx, t, l, b); err != nil {
		l.drop()
		return err
	}
	return nil
}

// post delivers a batch to t's gateway over l's open client, gzip-compressed — in the
// binary framing once the sink said it takes it, JSON until then — and returns once t
// applied it. Several may run at once on l.
func (g *Gateway) post(ctx context.Context, t GatewayTarget, l *link, b Batch) error {
	hc, tok, bin := l.hc, l.tok, l.bin.Load()
	buf := new(bytes.Buffer)
	zw := gzipWriters.Get().(*gzip.Writer)
	defer gzipWriters.Put(zw)
	zw.Reset(buf)
	ctype := "application/json"
	if bin {
		ctype = BatchContentType
		if _, err := zw.Write(AppendBatch(nil, &b)); err != nil {
			return fmt.Errorf("compressing the batch: %w", err)
		}
	} else if err := json.NewEncoder(zw).Encode(b); err != nil {
		return fmt.Errorf("encoding the batch: %w", err)
	}
	if err := zw.Close(); err != nil {
		return fmt.Errorf("compressing the batch: %w", err)
	}
	scheme := "https"
	if t.CAFile == "" {
		scheme = "http"
	}
	n := buf.Len()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, scheme+"://"+t.Address+PathBatch, buf)
	if err != nil {
		return fmt.Errorf("batch request to site %s: %w", t.Name, err)
	}
	req.Header.Set("Content-Type", ctype)
	req.Header.Set("Content-Encoding", "gzip")
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("site %s's gateway at %s: %w", t.Name, t.Address, err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("site %s's gateway answered %s: %s", t.Name, resp.Status, bytes.TrimSpace(msg))
	}
	if !bin && AcceptsBatchType(resp.Header.Get("Accept-Post")) {
		l.bin.Store(true)
	}
	g.sent.Add(1)
	g.keys.Add(int64(len(b.Changes)))
	g.bytes.Add(int64(n))
	return nil
}

// gzipWriters are reused across batches: a flate writer is ~800 KB of tables.
var gzipWriters = sync.Pool{New: func() any {
	zw, _ := gzip.NewWriterLevel(io.Discard, gzip.BestSpeed) // a valid level: no error
	return zw
}}

// acceptPost is the sink's Accept-Post: the batch formats it takes.
var acceptPost = BatchContentType + ", application/json"

// sink applies a batch from another site to this site's primaries, each key at the
// partition owning its slot, and answers 200 once every change is applied (or older
// than what its key holds).
func (g *Gateway) sink(w http.ResponseWriter, r *http.Request) {
	var body io.Reader = http.MaxBytesReader(w, r.Body, 256<<20)
	if r.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(body)
		if err != nil {
			httpjson.Error(w, http.StatusBadRequest, "BadRequest", "gzip body: %v", err)
			return
		}
		body = zr
	}
	w.Header().Set("Accept-Post", acceptPost)
	var b Batch
	if IsBatchType(r.Header.Get("Content-Type")) {
		data, err := io.ReadAll(io.LimitReader(body, 1<<30))
		if err == nil {
			b, err = DecodeBatch(data)
		}
		if err != nil {
			httpjson.Error(w, http.StatusBadRequest, "BadRequest", "batch: %v", err)
			return
		}
	} else if err := json.NewDecoder(io.LimitReader(body, 1<<30)).Decode(&b); err != nil {
		httpjson.Error(w, http.StatusBadRequest, "BadRequest", "batch: %v", err)
		return
	}
	if b.Site == g.cfg.Site {
		httpjson.Error(w, http.StatusBadRequest, "BadRequest", "batch from site %q, which is this site", b.Site)
		return
	}
	for attempt := 0; ; attempt++ {
		err := g.apply(r.Context(), b, attempt > 0)
		if err == nil {
			break
		}
		if attempt == 3 || r.Context().Err() != nil {
			httpjson.Error(w, http.StatusServiceUnavailable, "NotApplied", "%v", err)
			return
		}
		select {
		case <-r.Context().Done():
		case <-time.After(time.Duration(attempt+1) * 200 * time.Millisecond):
		}
	}
	g.applied.Add(int64(len(b.Changes)))
	httpjson.Write(w, http.StatusOK, map[string]int{"changes": len(b.Changes)})
}

// apply sends a batch's changes to the primaries of the partitions owning their slots,
// with the batch's policies' fingerprint.
func (g *Gateway) apply(ctx context.Context, b Batch, fresh bool) error {
	changes := b.Changes
	parts, err := g.partitions(ctx, fresh)
	if err != nil {
		return err
	}
	owner := make([]int, slots.Count)
	for _, p := range parts {
		for _, rg := range p.Slots {
			for s := rg[0]; s <= rg[1] && s < slots.Count; s++ {
				owner[s] = p.ID
			}
		}
	}
	byPart := map[int][]Change{}
	for _, c := range changes {
		p := owner[slots.Of(c.Key)]
		byPart[p] = append(byPart[p], c)
	}
	ids := make([]int, 0, len(byPart))
	for p := range byPart {
		ids = append(ids, p)
	}
	slices.Sort(ids)
	for _, p := range ids {
		prim := g.primary(parts, p)
		if prim == nil {
			return fmt.Errorf("partition %d has no primary", p)
		}
		if err := g.applyAt(ctx, prim, Batch{Site: b.Site, Partition: -1, Changes: byPart[p], Policies: b.Policies}); err != nil {
			return fmt.Errorf("applying %d changes at partition %d: %w", len(byPart[p]), p, err)
		}
	}
	return nil
}

// applyAt applies part's changes at the primary prim (POST /v1/wan/apply): in the binary
// framing once prim said it takes it (Accept-Post on an earlier answer), JSON until then
// and to an older instance.
func (g *Gateway) applyAt(ctx context.Context, prim *api.Client, part Batch) error {
	_, bin := g.binApply.Load(prim.Base)
	var body []byte
	var err error
	ctype := "application/json"
	if bin {
		ctype = BatchContentType
		body = AppendBatch(nil, &part)
	} else if body, err = json.Marshal(map[string]any{"changes": part.Changes, "policies": part.Policies}); err != nil {
		return fmt.Errorf("encoding the changes: %w", err)
	}
	resp, err := prim.Post(ctx, "/v1/wan/apply", bytes.NewReader(body), ctype, "")
	if err != nil {
		return fmt.Errorf("apply: %w", err)
	}
	// Read to its end, so the connection is kept for the next apply.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
	_ = resp.Body.Close()
	if !bin && AcceptsBatchType(resp.Header.Get("Accept-Post")) {
		g.binApply.Store(prim.Base, true)
	}
	return nil
}

// Status collects every primary's WAN state.
func (g *Gateway) Status(ctx context.Context) api.WANGatewayStatus {
	st := api.WANGatewayStatus{Site: g.cfg.Site, Batches: g.sent.Load(), Keys: g.keys.Load(), Bytes: g.bytes.Load(), Applied: g.applied.Load(), Errors: g.errs.Load()}
	st.Repairs = g.rep.list()
	parts, err := g.partitions(ctx, true)
	if err != nil {
		st.Partitions = append(st.Partitions, api.WANGatewayPartition{Partition: -1, Error: err.Error()})
	}
	for _, p := range parts {
		ps := api.WANGatewayPartition{Partition: p.ID}
		if prim := g.primary(parts, p.ID); prim == nil {
			ps.Error = "no primary"
		} else if err := prim.Do(ctx, http.MethodGet, api.PathWANStatus, nil, &ps.WANInstanceStatus); err != nil {
			ps.Error = err.Error()
		}
		st.Partitions = append(st.Partitions, ps)
	}
	now := time.Now()
	for _, t := range g.cfg.Targets {
		ts := api.WANGatewayTarget{Site: t.Name, Address: t.Address, OutOfSyncPartitions: []int{}}
		first := true
		for _, ps := range st.Partitions {
			for _, pt := range ps.Targets {
				if pt.Site != t.Name {
					continue
				}
				ts.Backlog += pt.Backlog
				if first || pt.AckedHLC < ts.OldestAckedHLC {
					ts.OldestAckedHLC, first = pt.AckedHLC, false
				}
				if pt.OutOfSync {
					ts.OutOfSyncPartitions = append(ts.OutOfSyncPartitions, ps.Partition)
				}
				if pt.Backlog > 0 && pt.AckedHLC > 0 {
					ts.LagSeconds = max(ts.LagSeconds, now.Sub(time.UnixMilli(int64(pt.AckedHLC>>16))).Seconds())
				}
			}
		}
		st.Targets = append(st.Targets, ts)
	}
	return st
}
