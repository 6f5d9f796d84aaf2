package wan

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/insightgrid/insight/grid/rdb"
	"github.com/insightgrid/insight/grid/resp"
	"github.com/insightgrid/insight/grid/script"
	"github.com/insightgrid/insight/grid/store"
)

// resolveTimeout bounds one call of a resolver function.
const resolveTimeout = 5 * time.Second

// NewLuaResolver returns the resolver of lua: policies: it calls a function of the
// instance's libraries (FUNCTION LOAD, kept in st and replicated to the backup with the
// data) on an engine of its own, as FCALL would with
//
//	KEYS[1] the key
//	ARGV[1..4] this site's value, its HLC, its site, "1" (or "0": deleted)
//	ARGV[5..8] the remote value, its HLC, its site, "1" (or "0": deleted)
//
// The function's reply is the key's value: a string (or a number, stored as its
// decimal), or nil (false) to delete the key. It cannot call commands (redis.call
// fails): the same inputs give the same result at every site.
func NewLuaResolver(st *store.Store) Resolver {
	r := &luaResolver{st: st, e: script.New(script.Limits{}, "7.0.0")}
	return r.resolve
}

type luaResolver struct {
	st *store.Store
	e  *script.Engine

	mu     sync.Mutex
	loaded []byte // the store's blob the engine holds the libraries of
}

// maxFunctions bounds the decoded libraries, as the server's (1 GiB).
const maxFunctions = 1 << 30

// sync loads the store's function libraries when they changed; r.mu held.
func (r *luaResolver) sync() error {
	blob := r.st.Functions()
	if r.loaded != nil && bytes.Equal(blob, r.loaded) {
		return nil
	}
	var libs []*script.Library
	if blob != nil {
		codes, err := rdb.DecodeFunctions(blob, maxFunctions)
		if err != nil {
			return fmt.Errorf("the function libraries do not decode: %w", err)
		}
		for _, code := range codes {
			lib, err := r.e.CompileLibrary(code)
			if err != nil {
				return fmt.Errorf("a function library does not load: %w", err)
			}
			libs = append(libs, lib)
		}
	}
	if err := r.e.AddLibraries(libs, true, true); err != nil {
		return fmt.Errorf("the function libraries conflict: %w", err)
	}
	r.loaded = append([]byte{}, blob...)
	return nil
}

func (r *luaResolver) resolve(function string, key []byte, local, remote Version) ([]byte, bool, error) {
	r.mu.Lock()
	err := r.sync()
	r.mu.Unlock()
	if err != nil {
		return nil, false, err
	}
	f := r.e.Function(function)
	if f == nil {
		return nil, false, fmt.Errorf("function %q is not loaded at this site (FUNCTION LOAD its library at every site)", function)
	}
	args := make([][]byte, 0, 8)
	for _, v := range []Version{local, remote} {
		ex := []byte("0")
		if v.Exists {
			ex = []byte("1")
		}
		args = append(args, v.Value, strconv.AppendUint(nil, v.HLC, 10), []byte(v.Site), ex)
	}
	h := &resolveHost{w: resp.NewWriter(nil)}
	ctx, cancel := context.WithTimeout(context.Background(), resolveTimeout)
	defer cancel()
	r.e.RunFunction(ctx, f, [][]byte{key}, args, h)
	return parseResolved(h.w.Bytes())
}

// parseResolved reads a resolver's RESP2 reply.
func parseResolved(b []byte) ([]byte, bool, error) {
	line, rest, ok := bytes.Cut(b, []byte("\r\n"))
	if !ok || len(line) == 0 {
		return nil, false, errors.New("no reply")
	}
	switch line[0] {
	case '$':
		n, err := strconv.Atoi(string(line[1:]))
		if err != nil || n > len(rest) {
			return nil, false, fmt.Errorf("malformed reply %q", line)
		}
		if n < 0 {
			return nil, false, nil
		}
		return bytes.Clone(rest[:n]), true, nil
	case ':', '+':
		return bytes.Clone(line[1:]), true, nil
	case '-':
		return nil, false, fmt.Errorf("the function failed: %s", line[1:])
	case '*':
		if string(line) == "*-1" {
			return nil, false, nil
		}
	}
	return nil, false, fmt.Errorf("the function returned %q: want a string, a number or nil", line)
}

// resolveHost runs a resolver: no command may be called.
type resolveHost struct{ w *resp.Writer }

func (h *resolveHost) Call([][]byte) []byte {
	return []byte("-ERR a WAN conflict resolver cannot call commands\r\n")
}

func (h *resolveHost) Reply() *resp.Writer { return h.w }

func (h *resolveHost) Log(slog.Level, string) {}
