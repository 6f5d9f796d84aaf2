package registry

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/insightgrid/insight/grid/acl"
)

// ACLUsersPrefix is where the grid's ACL users are kept, one key per user (the default
// user is not: it is every instance's --requirepass). It lies outside cluster.Prefix so
// that a user's change does not wake the watchers of the cluster state.
const ACLUsersPrefix = "/insight/acl/v1/users/"

// aclRecord is a user's value: the rules that rebuild it from a new user.
type aclRecord struct {
	Rules []string `json:"rules"`
}

// ACLStore keeps the ACL users in etcd for every instance: a change is written with a
// compare-and-swap on the user's key and applied to this instance's users before the
// call returns; Watch applies everyone's changes.
type ACLStore struct {
	cli   *clientv3.Client
	users *acl.Users
	log   *slog.Logger
}

// NewACLStore returns the store of users's instance.
func NewACLStore(cli *clientv3.Client, users *acl.Users, log *slog.Logger) *ACLStore {
	return &ACLStore{cli: cli, users: users, log: log}
}

func aclKey(name string) string { return ACLUsersPrefix + name }

func (s *ACLStore) decode(name string, value []byte) (*acl.User, []string, error) {
	var rec aclRecord
	if err := json.Unmarshal(value, &rec); err != nil {
		return nil, nil, fmt.Errorf("decoding ACL user %q at %s: %w", name, aclKey(name), err)
	}
	u, err := acl.NewUser(name, s.users.Catalog()).With(rec.Rules...)
	if err != nil {
		return nil, nil, fmt.Errorf("ACL user %q at %s: %w", name, aclKey(name), err)
	}
	return u, rec.Rules, nil
}

// Update changes a user with a compare-and-swap on its key, again from the newer rules
// when another instance changed it meanwhile.
func (s *ACLStore) Update(ctx context.Context, name string, change func(cur *acl.User) (*acl.User, error)) (*acl.User, error) {
	key := aclKey(name)
	for {
		resp, err := s.cli.Get(ctx, key)
		if err != nil {
			return nil, fmt.Errorf("reading ACL user %q from etcd: %w", name, err)
		}
		var cur *acl.User
		var rev int64
		if len(resp.Kvs) > 0 {
			if cur, _, err = s.decode(name, resp.Kvs[0].Value); err != nil {
				return nil, err
			}
			rev = resp.Kvs[0].ModRevision
		}
		u, err := change(cur)
		if err != nil {
			return nil, err
		}
		b, err := json.Marshal(aclRecord{Rules: u.Rules()})
		if err != nil {
			return nil, fmt.Errorf("encoding ACL user %q: %w", name, err)
		}
		tx, err := s.cli.Txn(ctx).If(clientv3.Compare(clientv3.ModRevision(key), "=", rev)).
			Then(clientv3.OpPut(key, string(b))).Commit()
		if err != nil {
			return nil, fmt.Errorf("writing ACL user %q to etcd: %w", name, err)
		}
		if !tx.Succeeded {
			continue // changed by another instance since read: apply the rules to its version
		}
		// This instance sees its own change before the reply; the watch brings it again.
		if err := s.users.Apply(name, u.Rules(), tx.Header.Revision); err != nil {
			return nil, err
		}
		return u, nil
	}
}

// Delete removes users' keys, and the users from this instance at once.
func (s *ACLStore) Delete(ctx context.Context, names []string) (int, error) {
	n := 0
	for _, name := range names {
		resp, err := s.cli.Delete(ctx, aclKey(name))
		if err != nil {
			return n, fmt.Errorf("deleting ACL user %q from etcd: %w", name, err)
		}
		if resp.Deleted > 0 {
			n++
			s.users.Remove(name, resp.Header.Revision)
		}
	}
	return n, nil
}

// Watch keeps this instance's users those in etcd until ctx ends: it loads them all,
// then applies every change; a broken watch (etcd unreachable, compaction) loads again.
func (s *ACLStore) Watch(ctx context.Context) error {
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		rev, err := s.load(ctx)
		if err != nil {
			s.log.Warn("ACL users unavailable, retrying", "err", err, "retryIn", backoff)
			sleep(ctx, backoff)
			backoff = min(2*backoff, 5*time.Second)
			continue
		}
		backoff = 100 * time.Millisecond
		wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
		for wr := range s.cli.Watch(wctx, ACLUsersPrefix, clientv3.WithPrefix(), clientv3.WithRev(rev+1)) {
			if err := wr.Err(); err != nil {
				s.log.Warn("ACL users watch interrupted, reloading", "err", err)
				break
			}
			for _, ev := range wr.Events {
				s.applyEvent(ev)
			}
		}
		cancel()
	}
	return ctx.Err()
}

func (s *ACLStore) applyEvent(ev *clientv3.Event) {
	name := strings.TrimPrefix(string(ev.Kv.Key), ACLUsersPrefix)
	if ev.Type == clientv3.EventTypeDelete {
		s.users.Remove(name, ev.Kv.ModRevision)
		return
	}
	_, rules, err := s.decode(name, ev.Kv.Value)
	if err == nil {
		err = s.users.Apply(name, rules, ev.Kv.ModRevision)
	}
	if err != nil {
		// Written by an instance of another version with commands this one lacks: the
		// user stays as it was here, and says why.
		s.log.Warn("ACL user not applied", "user", name, "err", err)
	}
}

// Load makes this instance's users those in etcd now, once (Watch keeps them so).
func (s *ACLStore) Load(ctx context.Context) error {
	_, err := s.load(ctx)
	return err
}

// load makes this instance's users those in etcd now and returns the revision read at.
func (s *ACLStore) load(ctx context.Context) (int64, error) {
	resp, err := s.cli.Get(ctx, ACLUsersPrefix, clientv3.WithPrefix())
	if err != nil {
		return 0, fmt.Errorf("reading the ACL users from etcd: %w", err)
	}
	keep := map[string]bool{}
	for _, kv := range resp.Kvs {
		name := strings.TrimPrefix(string(kv.Key), ACLUsersPrefix)
		keep[name] = true
		_, rules, err := s.decode(name, kv.Value)
		if err == nil {
			err = s.users.Apply(name, rules, kv.ModRevision)
		}
		if err != nil {
			s.log.Warn("ACL user not applied", "user", name, "err", err)
		}
	}
	for _, name := range s.users.Names() {
		if !keep[name] {
			s.users.Remove(name, resp.Header.Revision)
		}
	}
	return resp.Header.Revision, nil
}
