package server

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/insightgrid/insight/grid/acl"
)

// TestACLDeletedUserConnectionIsClosed: ACL DELUSER closes the connections authenticated
// as the user, as Redis does; a changed user's connection runs its next command with the
// new rules.
func TestACLDeletedUserConnectionIsClosed(t *testing.T) {
	_, dial := startServer(t, Config{Replication: Standalone{}})
	admin, user := dial(), dial()
	admin.expect(encodeCmd("ACL", "SETUSER", "u", "on", ">p", "~{k}*", "+get"), "+OK\r\n")
	user.expect(encodeCmd("AUTH", "u", "p"), "+OK\r\n")
	user.expect(encodeCmd("GET", "{k}a"), "$-1\r\n")
	user.expect(encodeCmd("SET", "{k}a", "v"), "-NOPERM this user has no permissions to run the 'set' command\r\n")
	admin.expect(encodeCmd("ACL", "SETUSER", "u", "+set"), "+OK\r\n")
	user.expect(encodeCmd("SET", "{k}a", "v"), "+OK\r\n")
	admin.expect(encodeCmd("ACL", "DELUSER", "u"), ":1\r\n")
	if err := user.nc.SetDeadline(time.Now().Add(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	_, _ = io.WriteString(user.nc, encodeCmd("GET", "{k}a"))
	buf := make([]byte, 64)
	if _, err := user.br.Read(buf); !errors.Is(err, io.EOF) {
		t.Fatalf("the deleted user's connection: read %q, %v; want it closed (EOF)", buf, err)
	}
}

// TestACLRulesChangedBeforeExec: EXEC checks the queued commands again and answers one
// the user may no longer run with Redis's NOPERM, running the others.
func TestACLRulesChangedBeforeExec(t *testing.T) {
	_, dial := startServer(t, Config{Replication: Standalone{}})
	admin, user := dial(), dial()
	admin.expect(encodeCmd("ACL", "SETUSER", "u", "on", ">p", "~{k}*", "+@string", "+multi", "+exec"), "+OK\r\n")
	user.expect(encodeCmd("AUTH", "u", "p"), "+OK\r\n")
	user.expect(encodeCmd("MULTI"), "+OK\r\n")
	user.expect(encodeCmd("SET", "{k}a", "1"), "+QUEUED\r\n")
	user.expect(encodeCmd("GET", "{k}a"), "+QUEUED\r\n")
	admin.expect(encodeCmd("ACL", "SETUSER", "u", "-get"), "+OK\r\n")
	user.expect(encodeCmd("EXEC"), "*2\r\n+OK\r\n-NOPERM ACLs rules changed between the moment the transaction was accumulated and the EXEC call. This command is no longer allowed for the following reason: no permission to execute the command or subcommand\r\n")
}

// TestACLClientListAndWhoAmI name the connection's user; CLIENT LIST's user= field too.
func TestACLClientListAndWhoAmI(t *testing.T) {
	s, dial := startServer(t, Config{Replication: Standalone{}, RequirePass: "top"})
	c := dial()
	c.expect(encodeCmd("ACL", "WHOAMI"), "-NOAUTH Authentication required.\r\n")
	c.expect(encodeCmd("AUTH", "top"), "+OK\r\n")
	c.expect(encodeCmd("ACL", "WHOAMI"), "$7\r\ndefault\r\n")
	c.expect(encodeCmd("ACL", "SETUSER", "default", "off"), "-"+errDefaultUser+"\r\n")
	c.expect(encodeCmd("ACL", "SETUSER", "ops", "on", ">pw", "+@all", "~*", "&*"), "+OK\r\n")
	c.expect(encodeCmd("HELLO", "2", "AUTH", "ops", "pw"), "*14\r\n")
	c2 := dial()
	c2.expect(encodeCmd("AUTH", "ops", "pw"), "+OK\r\n")
	c2.expect(encodeCmd("ACL", "WHOAMI"), "$3\r\nops\r\n")
	s.mu.Lock()
	var lines []string
	for o := range s.conns {
		lines = append(lines, o.info(time.Now()))
	}
	s.mu.Unlock()
	if n := strings.Count(strings.Join(lines, ""), " user=ops "); n != 2 {
		t.Errorf("CLIENT LIST: %d connections with user=ops, want 2:\n%s", n, strings.Join(lines, ""))
	}
	// The default user's password is --requirepass: AUTH default <it> works.
	c2.expect(encodeCmd("AUTH", "default", "top"), "+OK\r\n")
	c2.expect(encodeCmd("AUTH", "default", "nope"), "-"+errWrongPass+"\r\n")
}

// TestACLLoadAndSaveWithAFile: with --aclfile, ACL LOAD re-reads it and ACL SAVE is
// refused (the file is a read-only Secret).
func TestACLLoadAndSaveWithAFile(t *testing.T) {
	s, dial := startServer(t, Config{Replication: Standalone{}})
	loads := 0
	s.SetACLFile("/etc/insight/acl/users.acl", func(context.Context) error {
		loads++
		if loads > 1 {
			return errors.New("line 2: bad rule")
		}
		return nil
	})
	c := dial()
	c.expect(encodeCmd("ACL", "LOAD"), "+OK\r\n")
	c.expect(encodeCmd("ACL", "LOAD"), "-ERR line 2: bad rule\r\n")
	c.expect(encodeCmd("ACL", "SAVE"), "-ERR ACL SAVE is refused: the ACL file /etc/insight/acl/users.acl is read-only")
}

// BenchmarkACLCheck measures the per-command check of SET key:1 v: the default user's
// (every command, key and channel: skipped), +@all ~* (command and key checked), and
// +@all ~key:* (the key matched against a pattern).
func BenchmarkACLCheck(b *testing.B) {
	s, _ := startServer(b, Config{Replication: Standalone{}})
	set := s.cmds["set"]
	args := [][]byte{[]byte("SET"), []byte("key:000000001234"), []byte("v")}
	for _, tc := range []struct {
		name  string
		rules []string
	}{
		{"default", nil},
		{"all-keys", []string{"on", "nopass", "~*", "+@all"}},
		{"key-pattern", []string{"on", "nopass", "~key:*", "+@all"}},
	} {
		h := s.users.Default()
		if tc.rules != nil {
			if _, err := s.users.Update(context.Background(), tc.name, func(*acl.User) (*acl.User, error) {
				return acl.NewUser(tc.name, s.users.Catalog()).With(tc.rules...)
			}); err != nil {
				b.Fatal(err)
			}
			h = s.users.Get(tc.name)
		}
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if u := h.User(); !u.Unrestricted() {
					if d, _ := aclCheck(u, set, args); d != aclAllowed {
						b.Fatal("refused")
					}
				}
			}
		})
	}
}
