package registry

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/insightgrid/insight/grid/acl"
	"github.com/insightgrid/insight/grid/internal/testutil"
)

func aclTestUsers() *acl.Users {
	cat := acl.NewCatalog()
	for _, name := range []string{"get", "set", "del", "incr", "ping"} {
		cat.Add(name, acl.Fast, nil)
	}
	def, _ := acl.NewUser(acl.DefaultUser, cat).With("on", "nopass", "+@all", "~*", "&*")
	return acl.NewUsers(cat, def)
}

// TestACLStoreKeepsInstancesAlike: users changed through one instance's store reach
// the other's watch; concurrent changes of one user on two instances both apply (the
// compare-and-swap retries on the newer rules); a deletion reaches both; a user already
// in etcd when an instance starts is loaded, one deleted while it was away is dropped.
func TestACLStoreKeepsInstancesAlike(t *testing.T) {
	cli := startEtcd(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	log := slog.New(slog.DiscardHandler)
	ua, ub := aclTestUsers(), aclTestUsers()
	a, b := NewACLStore(cli, ua, log), NewACLStore(cli, ub, log)
	var wg sync.WaitGroup
	wctx, stop := context.WithCancel(ctx)
	for _, s := range []*ACLStore{a, b} {
		wg.Add(1)
		go func() { defer wg.Done(); _ = s.Watch(wctx) }()
	}
	defer func() { stop(); wg.Wait() }()

	add := func(s *ACLStore, rule string) error {
		_, err := s.Update(ctx, "app", func(cur *acl.User) (*acl.User, error) {
			if cur == nil {
				cur = acl.NewUser("app", ua.Catalog())
			}
			return cur.With(rule)
		})
		return err
	}
	if err := add(a, "on"); err != nil {
		t.Fatal(err)
	}
	if h := ua.Get("app"); h == nil || !h.User().Enabled() {
		t.Fatal("the writing instance must see its change when Update returns")
	}
	// Both instances add a command to app at once, many times: every rule must stay.
	cmds := []string{"get", "set", "del", "incr", "ping"}
	errs := make(chan error, len(cmds))
	for i, c := range cmds {
		s := a
		if i%2 == 1 {
			s = b
		}
		go func() { errs <- add(s, "+"+c) }()
	}
	for range cmds {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	for _, us := range []*acl.Users{ua, ub} {
		testutil.Eventually(t, 10*time.Second, "every concurrent rule on both instances", func() bool {
			h := us.Get("app")
			if h == nil {
				return false
			}
			for _, c := range cmds {
				if !h.User().CanRun(us.Catalog().Lookup(c)) {
					return false
				}
			}
			return true
		})
	}
	if _, err := a.Update(ctx, "app", func(cur *acl.User) (*acl.User, error) { return cur.With("+nosuch") }); err == nil || !strings.Contains(err.Error(), "Unknown command") {
		t.Fatalf("a bad rule: %v", err)
	}

	if _, err := b.Update(ctx, "gone", func(*acl.User) (*acl.User, error) { return acl.NewUser("gone", ub.Catalog()).With("on") }); err != nil {
		t.Fatal(err)
	}
	// A third instance starts after both users exist: it loads them.
	uc := aclTestUsers()
	// What it had before it lost etcd: not in etcd any more.
	if err := uc.Apply("stale", []string{"on"}, 1); err != nil {
		t.Fatal(err)
	}
	c := NewACLStore(cli, uc, log)
	wg.Add(1)
	go func() { defer wg.Done(); _ = c.Watch(wctx) }()
	testutil.Eventually(t, 10*time.Second, "the users loaded by a new instance", func() bool {
		return uc.Get("app") != nil && uc.Get("gone") != nil && uc.Get("stale") == nil
	})

	n, err := b.Delete(ctx, []string{"gone", "nosuch"})
	if err != nil || n != 1 {
		t.Fatalf("Delete: %d %v", n, err)
	}
	if ub.Get("gone") != nil {
		t.Fatal("the deleting instance must see the deletion when Delete returns")
	}
	for _, us := range []*acl.Users{ua, uc} {
		testutil.Eventually(t, 10*time.Second, "the deletion on the other instances", func() bool { return us.Get("gone") == nil })
	}
}
