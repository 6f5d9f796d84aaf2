package data

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/insightgrid/insight/grid/acl"
	"github.com/insightgrid/insight/grid/internal/testutil"
)

// TestACLFileUsersAreAppliedAndReloaded: the --aclfile's users are written to the store
// at start; a change of the file is picked up; users it does not name (made with ACL
// SETUSER) are kept; a bad file leaves the users as they are and says where it is wrong.
func TestACLFileUsersAreAppliedAndReloaded(t *testing.T) {
	cat := acl.NewCatalog()
	cat.Add("get", acl.Read|acl.String|acl.Fast, nil)
	cat.Add("set", acl.Write|acl.String|acl.Slow, nil)
	def, _ := acl.NewUser(acl.DefaultUser, cat).With("on", "nopass", "+@all", "~*", "&*")
	users := acl.NewUsers(cat, def)
	path := filepath.Join(t.TempDir(), "users.acl")
	write := func(s string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("user alice on >a ~k:* +get\n")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if _, err := users.Update(ctx, "bob", func(*acl.User) (*acl.User, error) { return acl.NewUser("bob", cat).With("on", "+set") }); err != nil {
		t.Fatal(err)
	}
	f := &aclFile{path: path, store: users, users: users, log: slog.New(slog.DiscardHandler)}
	done := make(chan struct{})
	go func() { defer close(done); f.run(ctx) }()
	rules := func(name string) string {
		if h := users.Get(name); h != nil {
			return strings.Join(h.User().Rules(), " ")
		}
		return ""
	}
	testutil.Eventually(t, 10*time.Second, "alice from the file", func() bool { return strings.Contains(rules("alice"), "+get") })
	// The file changes (a rotated Secret): alice's rules are the file's again.
	write("user alice on >a ~k:* +get +set\nuser carol off\n")
	testutil.Eventually(t, 10*time.Second, "the changed file applied", func() bool {
		return strings.HasSuffix(rules("alice"), "+get +set") && users.Get("carol") != nil
	})
	if !slices.Equal(users.Names(), []string{"alice", "bob", "carol"}) {
		t.Errorf("users %v: bob, made with ACL SETUSER, must be kept", users.Names())
	}
	write("user alice on +nosuch\n")
	if err := f.load(ctx); err == nil || !strings.Contains(err.Error(), "users.acl:1: Error in ACL SETUSER modifier '+nosuch'") {
		t.Errorf("a bad file: %v", err)
	}
	if !strings.HasSuffix(rules("alice"), "+get +set") {
		t.Errorf("a bad file changed alice: %s", rules("alice"))
	}
	cancel()
	<-done
}
