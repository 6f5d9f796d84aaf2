package server

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"
)

// gridOnlyCommands are the grid's internal commands, which Redis does not have.
var gridOnlyCommands = []string{"slotimport", "publishlocal", "replsync"}

// TestACLCategoriesAgainstRedisServer compares the ACL categories COMMAND INFO reports
// for every command and subcommand of the grid (what +@category rules select) with
// Redis 7.0's.
func TestACLCategoriesAgainstRedisServer(t *testing.T) {
	d := newDiffRun(t)
	s, _ := startServer(t, Config{Replication: Standalone{}})
	ctx := context.Background()
	var names []string
	for _, cmd := range s.sortedCommands() {
		if slices.Contains(gridOnlyCommands, cmd.name) {
			continue
		}
		names = append(names, cmd.name)
		for _, sub := range sortedSubs(cmd) {
			names = append(names, sub.fullName())
		}
	}
	categories := func(c *redis.Client, name string) []string {
		v, err := c.Do(ctx, "COMMAND", "INFO", name).Slice()
		if err != nil {
			t.Fatalf("COMMAND INFO %s: %v", name, err)
		}
		info, ok := v[0].([]any)
		if !ok {
			return nil // no such command
		}
		var out []string
		for _, c := range info[6].([]any) {
			out = append(out, fmt.Sprint(c))
		}
		return out
	}
	for _, name := range names {
		want := categories(d.redis, name)
		if want == nil {
			continue // a subcommand Redis 7.0 does not have (CLIENT SETINFO is 7.2's)
		}
		if got := categories(d.grid, name); !slices.Equal(got, want) {
			t.Errorf("COMMAND INFO %s categories: grid %s, redis %s", name, strings.Join(got, " "), strings.Join(want, " "))
		}
	}
}

// userPair is one user's connections to Redis and to the grid, each authenticated with
// AUTH user pass on connect.
type userPair struct{ redis, grid *redis.Client }

func (d *diffRun) asUser(user, pass string) userPair {
	d.t.Helper()
	open := func(c *redis.Client) *redis.Client {
		o := *c.Options()
		o.Username, o.Password, o.PoolSize, o.MaxRetries = user, pass, 1, -1
		u := redis.NewClient(&o)
		d.t.Cleanup(func() { u.Close() })
		return u
	}
	return userPair{redis: open(d.redis), grid: open(d.grid)}
}

// checkAs sends args as the user to both and compares the replies exactly.
func (d *diffRun) checkAs(p userPair, args ...string) {
	d.t.Helper()
	d.n++
	want, werr := do(p.redis, args)
	got, gerr := do(p.grid, args)
	if fmt.Sprint(want, werr) != fmt.Sprint(got, gerr) {
		d.t.Errorf("command %d %q as a user:\nredis: %v %v\n grid: %v %v", d.n, args, want, werr, got, gerr)
	}
}

// fields is a reply's words, sorted: ACL LIST lines and GETUSER commands compared as sets,
// because Redis 7.0 rebuilds a user's command rules from its bitmap, fitting categories
// over its whole command table and listing single commands in its hash table's order,
// which a smaller table cannot reproduce; the grid keeps the rules as given (as Redis
// 7.2 does), which select the same commands.
func fields(v any) []string {
	var out []string
	var walk func(any)
	walk = func(v any) {
		switch x := v.(type) {
		case []any:
			for _, e := range x {
				walk(e)
			}
		default:
			out = append(out, strings.Fields(fmt.Sprint(x))...)
		}
	}
	walk(v)
	slices.Sort(out)
	return out
}

func (d *diffRun) checkFields(args ...string) {
	d.t.Helper()
	d.n++
	want, werr := do(d.redis, args)
	got, gerr := do(d.grid, args)
	if fmt.Sprint(werr) != fmt.Sprint(gerr) || !slices.Equal(fields(want), fields(got)) {
		d.t.Errorf("command %d %q:\nredis: %v %v\n grid: %v %v", d.n, args, want, werr, got, gerr)
	}
}

// TestACLAgainstRedisServer compares ACL SETUSER, GETUSER, LIST, USERS, DELUSER, CAT,
// DRYRUN, GENPASS, LOAD and SAVE, and what users are allowed and refused (commands,
// categories, keys with read and write permissions, channels, MULTI, scripts), with
// Redis 7.0's replies.
func TestACLAgainstRedisServer(t *testing.T) {
	d := newDiffRun(t)
	// Rules whose descriptions both give alike.
	d.check(exact, "ACL", "SETUSER", "alice", "on", ">p1", "~k:*", "%R~r:*", "%W~w:*", "&ch*", "+@all", "-@dangerous")
	d.check(exact, "ACL", "GETUSER", "alice")
	d.check(exact, "ACL", "SETUSER", "bob", "on", "#"+strings.Repeat("ab", 32), "nopass", "allkeys", "allchannels", "-@all", "+get", "+set")
	d.check(exact, "ACL", "SETUSER", "carol")
	d.check(exact, "ACL", "SETUSER", "dave", "on", ">a", ">b", "<a", "%RW~x", "%R~y", "%W~y", "reset")
	d.check(exact, "ACL", "SETUSER", "erin", "%R")
	d.checkFields("ACL", "LIST")
	d.checkFields("ACL", "GETUSER", "bob")
	d.check(exact, "ACL", "GETUSER", "nosuch")
	d.check(exact, "ACL", "USERS")
	d.check(exact, "ACL", "WHOAMI")
	// Bad rules and names, each with Redis's text.
	for _, rule := range []string{"foo", "+nosuch", "+@nosuch", "#abc", "!abc", "<nope", "%X~a", "%~a", "%RWR~a", "+config|nosuch"} {
		d.check(exact, "ACL", "SETUSER", "bad", rule)
	}
	d.check(exact, "ACL", "SETUSER", "bad", "~*", "~x")
	d.check(exact, "ACL", "SETUSER", "bad", "&*", "&x")
	d.check(exact, "ACL", "SETUSER", "bad user", "on")
	d.check(exact, "ACL", "SETUSER")
	d.check(exact, "ACL", "GETUSER", "bad")
	d.check(exact, "ACL", "DELUSER", "default")
	d.check(exact, "ACL", "DELUSER", "nosuch", "carol", "erin")
	d.check(exact, "ACL", "USERS")
	// CAT: the categories, an unknown one, and a category's commands.
	d.check(exact, "ACL", "CAT")
	d.check(exact, "ACL", "CAT", "nosuch")
	d.check(exact, "ACL", "CAT", "a", "b")
	d.check(exact, "ACL", "GENPASS", "1", "2")
	d.checkCategoryLists()
	// GENPASS: random, so lengths only; bad bit counts.
	for _, bits := range []string{"", "1", "5", "255", "4096"} {
		args := []string{"ACL", "GENPASS"}
		if bits != "" {
			args = append(args, bits)
		}
		want, _ := do(d.redis, args)
		got, _ := do(d.grid, args)
		if len(fmt.Sprint(want)) != len(fmt.Sprint(got)) {
			t.Errorf("%q: redis %q, grid %q: lengths differ", args, want, got)
		}
	}
	for _, bits := range []string{"0", "-1", "4097", "x"} {
		d.check(exact, "ACL", "GENPASS", bits)
	}
	// Without an ACL file, LOAD and SAVE are refused alike.
	d.check(exact, "ACL", "LOAD")
	d.check(exact, "ACL", "SAVE")
	// DRYRUN.
	d.check(exact, "ACL", "SETUSER", "frank", "on", ">pw", "~k*", "%W~w*", "&c*", "+get", "+set", "+publish", "+subscribe", "+psubscribe",
		"+multi", "+exec", "+eval", "+lpush", "+del", "+hset", "+client|id")
	for _, args := range [][]string{
		{"get", "k1"}, {"get", "x"}, {"set", "w1", "v"}, {"hget", "k", "f"}, {"publish", "d", "m"}, {"publish", "c1", "m"},
		{"client", "id"}, {"client", "list"},
	} {
		d.check(exact, append([]string{"ACL", "DRYRUN", "frank"}, args...)...)
	}
	d.check(exact, "ACL", "DRYRUN", "nouser", "get", "x")
	d.check(exact, "ACL", "DRYRUN", "frank", "nosuch", "x")
	d.check(exact, "ACL", "DRYRUN", "frank", "get")
	// The key-spec flags key permissions are checked with.
	for _, args := range [][]string{
		{"SET", "a", "v"}, {"SET", "a", "v", "GET"}, {"LPUSH", "a", "v"}, {"SMOVE", "a", "b", "m"}, {"SINTERSTORE", "d", "a", "b"},
		{"SUNIONSTORE", "d", "a"}, {"DEL", "a", "b"}, {"MSET", "a", "1", "b", "2"}, {"HSET", "h", "f", "v"}, {"ZADD", "z", "1", "m"},
		{"XADD", "s", "*", "f", "v"}, {"INCR", "a"}, {"APPEND", "a", "b"}, {"LMOVE", "a", "b", "LEFT", "RIGHT"}, {"LMPOP", "2", "a", "b", "LEFT"},
		{"EXISTS", "a"}, {"ZPOPMIN", "z"}, {"SETNX", "a", "v"},
	} {
		d.check(exact, append([]string{"COMMAND", "GETKEYSANDFLAGS"}, args...)...)
	}

	// AUTH.
	d.check(exact, "AUTH", "frank", "bad")
	d.check(exact, "AUTH", "nouser", "x")
	d.check(exact, "AUTH", "pw")
	d.check(exact, "AUTH", "carol", "x") // deleted
	d.check(exact, "HELLO", "2", "AUTH", "frank", "bad")
	d.check(exact, "ACL", "SETUSER", "off1", "off", ">pw", "+@all")
	d.check(exact, "AUTH", "off1", "pw")

	// As frank: commands, keys by permission, channels, MULTI, scripts.
	f := d.asUser("frank", "pw")
	for _, args := range [][]string{
		{"ACL", "WHOAMI"}, {"GET", "x{k}"}, {"GET", "k{k}1"}, {"SET", "k{k}1", "v"}, {"GET", "k{k}1"}, {"HGET", "k{k}", "f"},
		{"SET", "w{k}1", "v"}, {"GET", "w{k}1"}, {"LPUSH", "w{k}2", "a"}, {"SET", "x{k}", "1"}, {"DEL", "k{k}1"}, {"DEL", "x{k}"},
		{"HSET", "w{k}3", "f", "v"}, {"CLIENT", "ID"}, {"CLIENT", "LIST"}, {"PUBLISH", "d", "m"}, {"PUBLISH", "c1", "m"},
		{"EVAL", "return redis.call('get','x{k}')", "0"},
		{"EVAL", "return redis.call('hget','k{k}','x{k}')", "0"},
		{"EVAL", "return redis.pcall('get','x{k}')", "0"},
		{"EVAL", "return redis.call('get','k{k}')", "0"},
		{"AUTH", "frank", "bad"}, {"ACL", "WHOAMI"}, {"AUTH", "default", "x{k}"},
	} {
		if args[0] == "CLIENT" && args[1] == "ID" {
			// The ids differ: the reply is compared by kind.
			_, werr := do(f.redis, args)
			_, gerr := do(f.grid, args)
			if fmt.Sprint(werr) != fmt.Sprint(gerr) {
				t.Errorf("%q as frank: redis %v, grid %v", args, werr, gerr)
			}
			continue
		}
		d.checkAs(f, args...)
	}
	d.checkTx(f, []string{"GET", "x{k}"}, []string{"GET", "k{k}"})
	d.checkTx(f, []string{"GET", "k{k}"}, []string{"SET", "w{k}9", "v"})
	// Channels: subscriptions to allowed and refused channels and patterns.
	for _, args := range [][]string{{"SUBSCRIBE", "c1", "d1"}, {"PSUBSCRIBE", "c"}, {"PSUBSCRIBE", "d*"}} {
		d.checkAs(f, args...)
	}
	// The default user is nopass here: AUTH default with any password succeeds.
	d.checkAs(f, "AUTH", "default", "x")
	d.checkAs(f, "ACL", "WHOAMI")
}

// checkCategoryLists compares ACL CAT <category> for each category: the grid lists the
// commands it serves that Redis lists (Redis lists its own in its hash table's order,
// and serves more).
func (d *diffRun) checkCategoryLists() {
	d.t.Helper()
	served, known := map[string]bool{}, map[string]bool{}
	names, _ := do(d.grid, []string{"COMMAND", "LIST"})
	for _, n := range names.([]any) {
		served[n.(string)] = true
	}
	names, _ = do(d.redis, []string{"COMMAND", "LIST"})
	for _, n := range names.([]any) {
		known[n.(string)] = true
	}
	cats, _ := do(d.redis, []string{"ACL", "CAT"})
	for _, cat := range cats.([]any) {
		want, _ := do(d.redis, []string{"ACL", "CAT", cat.(string)})
		got, _ := do(d.grid, []string{"ACL", "CAT", cat.(string)})
		var w, g []string
		for _, n := range want.([]any) {
			if served[n.(string)] {
				w = append(w, n.(string))
			}
		}
		for _, n := range got.([]any) {
			if known[n.(string)] { // the grid's internal commands are its own
				g = append(g, n.(string))
			}
		}
		slices.Sort(w)
		slices.Sort(g)
		if !slices.Equal(w, g) {
			d.t.Errorf("ACL CAT %s:\nredis (served by the grid): %v\n grid: %v", cat, w, g)
		}
	}
}

// checkTx runs MULTI, cmds, EXEC as the user on one connection of each and compares
// every reply.
func (d *diffRun) checkTx(p userPair, cmds ...[]string) {
	d.t.Helper()
	ctx := context.Background()
	run := func(c *redis.Client) []string {
		conn := c.Conn()
		defer conn.Close()
		var out []string
		for _, args := range append(append([][]string{{"MULTI"}}, cmds...), []string{"EXEC"}) {
			a := make([]any, len(args))
			for i, s := range args {
				a[i] = s
			}
			v, err := conn.Do(ctx, a...).Result()
			out = append(out, fmt.Sprint(v, err))
		}
		return out
	}
	if want, got := run(p.redis), run(p.grid); !slices.Equal(want, got) {
		d.t.Errorf("transaction %q:\nredis: %q\n grid: %q", cmds, want, got)
	}
}
