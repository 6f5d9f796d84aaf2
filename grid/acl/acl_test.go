package acl

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
)

// testCatalog is a small command table: strings, a hash command, a container with two
// subcommands, PUBLISH and AUTH.
func testCatalog() *Catalog {
	c := NewCatalog()
	c.Add("get", Read|String|Fast, nil)
	c.Add("set", Write|String|Slow, nil)
	c.Add("hget", Read|Hash|Fast, nil)
	c.Add("keys", Keyspace|Read|Slow|Dangerous, nil)
	cfg := c.Add("config", Slow, nil)
	c.Add("get", Admin|Slow|Dangerous, cfg)
	c.Add("set", Admin|Slow|Dangerous, cfg)
	c.Add("publish", PubSub|Fast, nil)
	return c
}

func mustUser(t *testing.T, rules ...string) *User {
	t.Helper()
	u, err := NewUser("alice", testCatalog()).With(rules...)
	if err != nil {
		t.Fatalf("rules %q: %v", rules, err)
	}
	return u
}

func TestRulesDescribeAsRedisLists(t *testing.T) {
	for _, tc := range []struct {
		rules []string
		want  string
	}{
		{nil, "user alice off resetchannels -@all"},
		{[]string{"on", "nopass", "~*", "&*", "+@all"}, "user alice on nopass ~* &* +@all"},
		{[]string{"on", ">p1", "~k:*", "%R~r:*", "%W~w:*", "%RW~both", "&ch*", "+@read", "-keys"},
			"user alice on #" + HashPassword("p1") + " ~k:* %R~r:* %W~w:* ~both resetchannels &ch* -@all +@read -keys"},
		// A rule given again moves to the end; a command's rule drops its subcommands'.
		{[]string{"+get", "+set", "+get"}, "user alice off resetchannels -@all +set +get"},
		{[]string{"+config|get", "+config|set", "-config", "+config|set"}, "user alice off resetchannels -@all -config +config|set"},
		{[]string{"+@all", "-@dangerous", "-set"}, "user alice off resetchannels +@all -@dangerous -set"},
		{[]string{"+get", "allcommands"}, "user alice off resetchannels +@all"},
		{[]string{"+get", "nocommands"}, "user alice off resetchannels -@all"},
		// A pattern given again gains the permissions; ~* with both is allkeys.
		{[]string{"%R~a", "%W~a", "%R~*"}, "user alice off ~a %R~* resetchannels -@all"},
		{[]string{"~a", "allkeys"}, "user alice off ~* resetchannels -@all"},
		{[]string{"~*", "resetkeys", "~b"}, "user alice off ~b resetchannels -@all"},
		{[]string{"&a", "allchannels"}, "user alice off &* -@all"},
		{[]string{">a", ">b", "<a"}, "user alice off #" + HashPassword("b") + " resetchannels -@all"},
		{[]string{">a", "nopass"}, "user alice off nopass resetchannels -@all"},
		{[]string{"nopass", ">a", "resetpass"}, "user alice off resetchannels -@all"},
		{[]string{"on", ">a", "~*", "&*", "+@all", "reset"}, "user alice off sanitize-payload resetchannels -@all"},
		{[]string{"skip-sanitize-payload"}, "user alice off skip-sanitize-payload resetchannels -@all"},
		{[]string{"ON", "+GET"}, "user alice on resetchannels -@all +get"},
	} {
		if got := mustUser(t, tc.rules...).String(); got != tc.want {
			t.Errorf("rules %q:\n got %s\nwant %s", tc.rules, got, tc.want)
		}
	}
}

func TestBadRulesAreRefusedWithRedisReasons(t *testing.T) {
	for _, tc := range []struct {
		rules  []string
		reason string
	}{
		{[]string{"foo"}, ReasonSyntax},
		{[]string{""}, ReasonSyntax},
		{[]string{"+nosuch"}, ReasonUnknown},
		{[]string{"-@nosuch"}, ReasonUnknown},
		{[]string{"+config|nosuch"}, ReasonUnknown},
		{[]string{"+get|x"}, ReasonFirstArg},
		{[]string{"#abc"}, ReasonBadHash},
		{[]string{"!" + strings.ToUpper(HashPassword("x"))}, ReasonBadHash},
		{[]string{"<never"}, ReasonNoSuchPass},
		{[]string{"!" + HashPassword("never")}, ReasonNoSuchPass},
		{[]string{"~*", "~x"}, ReasonAfterAllKeys},
		{[]string{"allkeys", "%R~x"}, ReasonAfterAllKeys},
		{[]string{"&*", "&x"}, ReasonAfterAllChan},
		{[]string{"%X~a"}, ReasonSyntax},
		{[]string{"%~a"}, ReasonSyntax},
		{[]string{"%RWR~a"}, ReasonSyntax},
		{[]string{"(~x +get)"}, ReasonSelectors},
	} {
		u0 := mustUser(t, "on")
		_, err := u0.With(tc.rules...)
		var re *RuleError
		if !errors.As(err, &re) || re.Reason != tc.reason || re.Rule != tc.rules[len(tc.rules)-1] {
			t.Errorf("rules %q: got %v, want reason %q for %q", tc.rules, err, tc.reason, tc.rules[len(tc.rules)-1])
		}
		if u0.String() != "user alice on resetchannels -@all" {
			t.Errorf("rules %q changed the user they were refused for: %s", tc.rules, u0)
		}
	}
	_, err := mustUser(t).With("+get", "bad")
	if want := "Error in ACL SETUSER modifier 'bad': Syntax error"; err == nil || err.Error() != want {
		t.Errorf("error text %v, want %q", err, want)
	}
}

func TestCommandChecksFollowCategoriesAndSubcommands(t *testing.T) {
	cat := testCatalog()
	u := mustUser(t, "+@read", "-keys", "+config|get")
	for name, want := range map[string]bool{
		"get": true, "hget": true, "keys": false, "set": false,
		"config|get": true, "config|set": false, "config": false, "publish": false,
	} {
		if got := u.CanRun(cat.Lookup(name)); got != want {
			t.Errorf("+@read -keys +config|get: CanRun(%s) = %v, want %v", name, got, want)
		}
	}
	if u.CanRun(nil) {
		t.Error("-@all based user may run a command outside the catalog")
	}
	all := mustUser(t, "+@all", "-config")
	if !all.CanRun(nil) || all.CanRun(cat.Lookup("config|get")) || !all.CanRun(cat.Lookup("set")) {
		t.Error("+@all -config: want commands outside the catalog allowed, config|get refused, set allowed")
	}
	if all.Unrestricted() || !mustUser(t, "+@all", "~*", "&*").Unrestricted() {
		t.Error("Unrestricted: want only +@all ~* &*")
	}
}

func TestKeyAndChannelChecks(t *testing.T) {
	u := mustUser(t, "~k:*", "%R~r:*", "%W~w:*", "&news.*", "&exact")
	for _, tc := range []struct {
		key  string
		need Permission
		want bool
	}{
		{"k:1", PermAll, true}, {"r:1", PermRead, true}, {"r:1", PermWrite, false},
		{"w:1", PermWrite, true}, {"w:1", PermRead, false}, {"w:1", PermAll, false},
		{"x", 0, false}, {"w:1", 0, true},
	} {
		if got := u.CanAccessKey([]byte(tc.key), tc.need); got != tc.want {
			t.Errorf("CanAccessKey(%s, %d) = %v, want %v", tc.key, tc.need, got, tc.want)
		}
	}
	for _, tc := range []struct {
		ch      string
		pattern bool
		want    bool
	}{
		{"news.a", false, true}, {"sport", false, false}, {"exact", false, true},
		// A pattern subscription must be one of the user's patterns, literally.
		{"news.*", true, true}, {"news.a*", true, false}, {"*", true, false},
	} {
		if got := u.CanAccessChannel([]byte(tc.ch), tc.pattern); got != tc.want {
			t.Errorf("CanAccessChannel(%s, pattern %v) = %v, want %v", tc.ch, tc.pattern, got, tc.want)
		}
	}
}

func TestPasswords(t *testing.T) {
	u := mustUser(t, "on", ">secret", "#"+HashPassword("other"))
	if !u.CheckPassword([]byte("secret")) || !u.CheckPassword([]byte("other")) || u.CheckPassword([]byte("nope")) {
		t.Error("passwords: want secret and other accepted, nope refused")
	}
	if off := mustUser(t, "off", ">secret"); off.CheckPassword([]byte("secret")) {
		t.Error("a user that is off authenticated")
	}
	if np := mustUser(t, "on", "nopass"); !np.CheckPassword([]byte("anything")) {
		t.Error("a nopass user refused a password")
	}
	if none := mustUser(t, "on"); none.CheckPassword([]byte("")) {
		t.Error("a user without passwords authenticated")
	}
}

func TestUsersKeepHandlesAcrossChangesAndDeletions(t *testing.T) {
	cat := testCatalog()
	def, _ := NewUser(DefaultUser, cat).With("on", "nopass", "~*", "&*", "+@all")
	us := NewUsers(cat, def)
	var deleted []string
	us.OnDelete = func(h *Handle) { deleted = append(deleted, h.User().Name) }
	ctx := context.Background()
	set := func(rules ...string) {
		t.Helper()
		if _, err := us.Update(ctx, "bob", func(cur *User) (*User, error) {
			if cur == nil {
				cur = NewUser("bob", cat)
			}
			return cur.With(rules...)
		}); err != nil {
			t.Fatal(err)
		}
	}
	set("on", "+get")
	h := us.Get("bob")
	set("+set")
	if us.Get("bob") != h || !h.User().CanRun(cat.Lookup("set")) || !h.User().CanRun(cat.Lookup("get")) {
		t.Fatal("a change must keep the handle and apply on top of the current rules")
	}
	if _, err := us.Update(ctx, "bob", func(cur *User) (*User, error) { return cur.With("bad") }); err == nil {
		t.Fatal("a refused rule was applied")
	}
	if names := us.Names(); !slices.Equal(names, []string{"bob"}) {
		t.Errorf("Names = %v", names)
	}
	n, _ := us.Delete(ctx, []string{"bob", "nosuch"})
	if n != 1 || !h.Deleted() || us.Get("bob") != nil || !slices.Equal(deleted, []string{"bob"}) {
		t.Fatalf("Delete: n=%d deleted=%v hooks=%v", n, h.Deleted(), deleted)
	}
	// The control plane's revisions: an older one is not applied over a newer one.
	if err := us.Apply("carol", []string{"on", "+get"}, 5); err != nil {
		t.Fatal(err)
	}
	if err := us.Apply("carol", []string{"off"}, 4); err != nil {
		t.Fatal(err)
	}
	us.Remove("carol", 3)
	if h := us.Get("carol"); h == nil || !h.User().Enabled() {
		t.Fatal("an older revision overrode a newer one")
	}
	us.Remove("carol", 6)
	if us.Get("carol") != nil {
		t.Fatal("a newer deletion was not applied")
	}
	if err := us.Apply("dave", []string{"+nosuch"}, 7); err == nil {
		t.Fatal("Apply of a bad rule: want an error")
	}
}

func TestCategories(t *testing.T) {
	if c, ok := ParseCategory("SortedSet"); !ok || c != SortedSet {
		t.Errorf("ParseCategory(SortedSet) = %v %v", c, ok)
	}
	if _, ok := ParseCategory("all"); ok {
		t.Error("ParseCategory(all): all is not a category (+@all is a rule of its own)")
	}
	if got := Implicit(String, CommandTraits{ReadOnly: true, Fast: true}).Names(); !slices.Equal(got, []string{"read", "string", "fast"}) {
		t.Errorf("GET's categories %v", got)
	}
	if got := Implicit(Scripting, CommandTraits{ReadOnly: true}).Names(); !slices.Equal(got, []string{"slow", "scripting"}) {
		t.Errorf("a readonly scripting command: %v (no @read, as in Redis)", got)
	}
	if got := Implicit(0, CommandTraits{Admin: true, Write: true, Blocking: true, PubSub: true}).Names(); !slices.Equal(got, []string{"write", "pubsub", "admin", "slow", "blocking", "dangerous"}) {
		t.Errorf("implicit categories %v", got)
	}
	if n := len(CategoryNames()); n != 21 {
		t.Errorf("%d categories, Redis 7.0 has 21", n)
	}
	if got := testCatalog().InCategory(Dangerous); !slices.Equal(got, []string{"keys", "config|get", "config|set"}) {
		t.Errorf("InCategory(dangerous) = %v", got)
	}
}

func TestParseFile(t *testing.T) {
	cat := testCatalog()
	users, err := ParseFile("users.acl", []byte("# the app's users\nuser alice on >pa ~k:* +@read\n\n  user bob off\n"), cat)
	if err != nil {
		t.Fatal(err)
	}
	if len(users) != 2 || users[0].Name != "alice" || !slices.Equal(users[0].Rules, []string{"on", ">pa", "~k:*", "+@read"}) || users[1].Name != "bob" {
		t.Fatalf("users %+v", users)
	}
	for _, tc := range []struct{ file, want string }{
		{"user alice on\nalice on\n", "users.acl:2: line should start with user keyword"},
		{"user\n", "users.acl:1: line should start with user keyword"},
		{"user default on\n", "users.acl:1: the 'default' user cannot be given"},
		{"user a on\nuser a off\n", "users.acl:2: duplicate user 'a' found"},
		{"user a +nosuch\n", "users.acl:1: Error in ACL SETUSER modifier '+nosuch': Unknown command or category name in ACL"},
	} {
		if _, err := ParseFile("users.acl", []byte(tc.file), cat); err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("file %q: error %v, want %q", tc.file, err, tc.want)
		}
	}
}
