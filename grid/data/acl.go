package data

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/insightgrid/insight/grid/acl"
	"github.com/insightgrid/insight/grid/registry"
	"github.com/insightgrid/insight/grid/server"
)

// aclPreload bounds the wait for the users in etcd before the RESP port opens.
const aclPreload = 3 * time.Second

// aclFilePoll is how often the --aclfile is looked at for a change (a rotated Secret).
const aclFilePoll = 2 * time.Second

// startACL makes the server's ACL users the cluster's, kept in etcd (ACL SETUSER on any
// instance applies on every one), and, with --aclfile, writes the file's users there at
// start and whenever the file changes.
func startACL(ctx context.Context, wg *sync.WaitGroup, cli *clientv3.Client, srv *server.Server, path string, log *slog.Logger) {
	st := registry.NewACLStore(cli, srv.Users(), log)
	srv.SetACLStore(st)
	// The users before the first client, so that AUTH as one works from the start; the
	// watch goes on (and loads again) when etcd does not answer in time.
	lctx, cancel := context.WithTimeout(ctx, aclPreload)
	if err := st.Load(lctx); err != nil {
		log.Warn("ACL users not loaded before serving; the watch goes on", "err", err)
	}
	cancel()
	wg.Add(1)
	go func() { defer wg.Done(); _ = st.Watch(ctx) }()
	if path == "" {
		return
	}
	f := &aclFile{path: path, store: st, users: srv.Users(), log: log}
	srv.SetACLFile(path, f.load)
	wg.Add(1)
	go func() { defer wg.Done(); f.run(ctx) }()
}

// aclFile is the --aclfile: its users are written to the store; the users it does not
// name (created with ACL SETUSER) are kept.
type aclFile struct {
	path  string
	store acl.Store
	users *acl.Users
	log   *slog.Logger

	mu      sync.Mutex // serialises loads (ACL LOAD and the poll)
	modTime time.Time
	size    int64
}

// run loads the file until it succeeds (etcd may not answer yet), then again each time
// its modification time or size changes, until ctx ends.
func (f *aclFile) run(ctx context.Context) {
	t := time.NewTicker(aclFilePoll)
	defer t.Stop()
	loaded := false
	for {
		if fi, err := os.Stat(f.path); err != nil {
			f.log.Warn("ACL file unreadable; the users stay as they are", "path", f.path, "err", err)
		} else if !loaded || !fi.ModTime().Equal(f.modTime) || fi.Size() != f.size {
			lctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			err := f.load(lctx)
			cancel()
			if err != nil {
				f.log.Warn("ACL file not applied; retrying", "path", f.path, "err", err)
			} else {
				loaded = true
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// load reads the file and writes each of its users whose rules differ from the current
// ones: the file wins for the users it names.
func (f *aclFile) load(ctx context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	fi, err := os.Stat(f.path)
	if err != nil {
		return fmt.Errorf("ACL file: %w", err)
	}
	b, err := os.ReadFile(f.path)
	if err != nil {
		return fmt.Errorf("ACL file: %w", err)
	}
	cat := f.users.Catalog()
	users, err := acl.ParseFile(f.path, b, cat)
	if err != nil {
		return err
	}
	for _, fu := range users {
		want, _ := acl.NewUser(fu.Name, cat).With(fu.Rules...) // ParseFile checked the rules
		if h := f.users.Get(fu.Name); h != nil && slices.Equal(h.User().Rules(), want.Rules()) {
			continue
		}
		if _, err := f.store.Update(ctx, fu.Name, func(*acl.User) (*acl.User, error) { return want, nil }); err != nil {
			return fmt.Errorf("ACL file %s, user %s: %w", f.path, fu.Name, err)
		}
	}
	f.modTime, f.size = fi.ModTime(), fi.Size()
	f.log.Info("ACL file applied", "path", f.path, "users", len(users))
	return nil
}
