package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"github.com/insightgrid/insight/grid/acl"
)

// aclTimeout bounds an ACL change's write to the control plane.
const aclTimeout = 10 * time.Second

// The ACL errors, worded as Redis 7.0 words them.
const (
	errNoPermKey     = "NOPERM this user has no permissions to access one of the keys used as arguments"
	errNoPermChannel = "NOPERM this user has no permissions to access one of the channels used as arguments"
	errNoACLFile     = "ERR This Redis instance is not configured to use an ACL file. You may want to specify users via the ACL SETUSER command and then issue a CONFIG REWRITE (assuming you have a Redis configuration file set) in order to store users in the Redis configuration."
	// errDefaultUser is the grid's: the default user is --requirepass's (the chart's
	// global.auth), the same on every instance, not an ACL user to change.
	errDefaultUser = "ERR The 'default' user is set by --requirepass (the chart's global.auth) and cannot be changed with ACL SETUSER"
)

// errSubcommandSyntax is Redis's reply to a subcommand given too many arguments.
func errSubcommandSyntax(args [][]byte) string {
	return fmt.Sprintf("ERR unknown subcommand or wrong number of arguments for '%.128s'. Try %s HELP.", args[1], strings.ToUpper(string(args[0])))
}

// aclCommands are ACL's subcommands.
func aclCommands() []*command {
	const adm = admin | ls | flagNoScript
	const open = ls | flagNoScript
	return []*command{container("acl", 0, "server", "6.0.0", "A container for Access List Control commands.", nil,
		def("cat", -2, open, noKeys, "server", "6.0.0", "Lists the ACL categories, or the commands inside a category.", cmdACLCat),
		def("deluser", -3, adm, noKeys, "server", "6.0.0", "Deletes ACL users, and terminates their connections.", cmdACLDelUser),
		def("dryrun", -4, adm, noKeys, "server", "7.0.0", "Simulates the execution of a command by a user, without executing the command.", cmdACLDryRun),
		def("genpass", -2, open, noKeys, "server", "6.0.0", "Generates a pseudorandom, secure password that can be used to identify ACL users.", cmdACLGenPass),
		def("getuser", 3, adm, noKeys, "server", "6.0.0", "Lists the ACL rules of a user.", cmdACLGetUser),
		def("list", 2, adm, noKeys, "server", "6.0.0", "Dumps the effective rules in ACL file format.", cmdACLList),
		def("load", 2, adm, noKeys, "server", "6.0.0", "Reloads the rules from the configured ACL file.", cmdACLLoad),
		def("save", 2, adm, noKeys, "server", "6.0.0", "Saves the effective ACL rules in the configured ACL file.", cmdACLSave),
		def("setuser", -3, adm, noKeys, "server", "6.0.0", "Creates and modifies an ACL user and its rules.", cmdACLSetUser),
		def("users", 2, adm, noKeys, "server", "6.0.0", "Lists all ACL users.", cmdACLUsers),
		def("whoami", 2, open, noKeys, "server", "6.0.0", "Returns the authenticated username of the current connection.", cmdACLWhoAmI),
	)}
}

// defaultUser is the default user --requirepass makes: every command, key and channel,
// with the password when one is set, without one (nopass) otherwise.
func defaultUser(requirePass string, cat *acl.Catalog) *acl.User {
	pass := "nopass"
	if requirePass != "" {
		pass = ">" + requirePass
	}
	u, err := acl.NewUser(acl.DefaultUser, cat).With("on", pass, "~*", "&*", "+@all")
	if err != nil {
		panic("the default user's rules: " + err.Error()) // fixed rules: a bug if refused
	}
	return u
}

// newUsers are the users of a server: the default user, and those kept in the process
// until SetACLStore gives the control plane's store.
func (s *Server) newUsers(cat *acl.Catalog) {
	s.users = acl.NewUsers(cat, defaultUser(s.cfg.RequirePass, cat))
	s.users.OnDelete = s.closeUserConns
	s.aclStore = s.users
}

// Users are the server's ACL users, which a control-plane store keeps up to date.
func (s *Server) Users() *acl.Users { return s.users }

// SetACLStore makes ACL SETUSER and DELUSER change users through st (the control plane,
// cluster-wide), before Serve.
func (s *Server) SetACLStore(st acl.Store) { s.aclStore = st }

// SetACLFile makes ACL LOAD call load (re-reading the --aclfile), and ACL SAVE refuse.
func (s *Server) SetACLFile(path string, load func(context.Context) error) {
	s.aclFile, s.aclLoad = path, load
}

// closeUserConns closes the connections authenticated as a deleted user, as Redis does.
func (s *Server) closeUserConns(h *acl.Handle) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		if c.user.Load() == h {
			c.nc.Close()
		}
	}
}

func cmdACLSetUser(c *conn, args [][]byte) {
	name := string(args[2])
	switch {
	case !acl.ValidName(name):
		c.wr.Error("ERR Usernames can't contain spaces or null characters")
		return
	case name == acl.DefaultUser:
		c.wr.Error(errDefaultUser)
		return
	}
	rules := make([]string, len(args)-3)
	for i, a := range args[3:] {
		rules[i] = string(a)
	}
	ctx, cancel := context.WithTimeout(context.Background(), aclTimeout)
	defer cancel()
	cat := c.s.users.Catalog()
	_, err := c.s.aclStore.Update(ctx, name, func(cur *acl.User) (*acl.User, error) {
		if cur == nil {
			cur = acl.NewUser(name, cat)
		}
		return cur.With(rules...)
	})
	if err != nil {
		c.wr.Error("ERR " + err.Error())
		return
	}
	c.wr.OK()
}

func cmdACLDelUser(c *conn, args [][]byte) {
	names := make([]string, 0, len(args)-2)
	for _, a := range args[2:] {
		if string(a) == acl.DefaultUser {
			c.wr.Error("ERR The 'default' user cannot be removed")
			return
		}
		names = append(names, string(a))
	}
	ctx, cancel := context.WithTimeout(context.Background(), aclTimeout)
	defer cancel()
	n, err := c.s.aclStore.Delete(ctx, names)
	if err != nil {
		c.wr.Error("ERR " + err.Error())
		return
	}
	c.wr.Int(int64(n))
}

func cmdACLGetUser(c *conn, args [][]byte) {
	h := c.s.users.Get(string(args[2]))
	if h == nil {
		c.wr.Null()
		return
	}
	u := h.User()
	c.wr.Map(6)
	c.wr.BulkString("flags")
	flags := u.Flags()
	c.wr.Array(len(flags))
	for _, f := range flags {
		c.wr.BulkString(f)
	}
	c.wr.BulkString("passwords")
	pw := u.Passwords()
	c.wr.Array(len(pw))
	for _, p := range pw {
		c.wr.BulkString(p)
	}
	c.wr.BulkString("commands")
	c.wr.BulkString(u.CommandRules())
	c.wr.BulkString("keys")
	c.wr.BulkString(u.KeyRules())
	c.wr.BulkString("channels")
	c.wr.BulkString(u.ChannelRules())
	c.wr.BulkString("selectors")
	c.wr.Array(0)
}

func cmdACLList(c *conn, _ [][]byte) {
	users := c.s.users.List()
	c.wr.Array(len(users))
	for _, u := range users {
		c.wr.BulkString(u.String())
	}
}

func cmdACLUsers(c *conn, _ [][]byte) {
	users := c.s.users.List()
	c.wr.Array(len(users))
	for _, u := range users {
		c.wr.BulkString(u.Name)
	}
}

func cmdACLWhoAmI(c *conn, _ [][]byte) { c.wr.BulkString(c.user.Load().User().Name) }

func cmdACLCat(c *conn, args [][]byte) {
	if len(args) == 2 {
		names := acl.CategoryNames()
		c.wr.Array(len(names))
		for _, n := range names {
			c.wr.BulkString(n)
		}
		return
	}
	if len(args) > 3 {
		c.wr.Error(errSubcommandSyntax(args))
		return
	}
	cat, ok := acl.ParseCategory(string(args[2]))
	if !ok {
		c.wr.Error(fmt.Sprintf("ERR Unknown category '%.128s'", args[2]))
		return
	}
	names := c.s.users.Catalog().InCategory(cat)
	c.wr.Array(len(names))
	for _, n := range names {
		c.wr.BulkString(n)
	}
}

// maxGenPassBits is the longest password ACL GENPASS makes, in bits.
const maxGenPassBits = 4096

func cmdACLGenPass(c *conn, args [][]byte) {
	bits := int64(256)
	if len(args) > 3 {
		c.wr.Error(errSubcommandSyntax(args))
		return
	}
	if len(args) == 3 {
		n, ok := parseInt(args[2])
		if !ok {
			c.wr.Error(errNotInteger)
			return
		}
		if n <= 0 || n > maxGenPassBits {
			c.wr.Error(fmt.Sprintf("ERR ACL GENPASS argument must be the number of bits for the output password, a positive number up to %d", maxGenPassBits))
			return
		}
		bits = n
	}
	chars := (bits + 3) / 4 // hex digits: 4 bits each
	buf := make([]byte, (chars+1)/2)
	if _, err := rand.Read(buf); err != nil {
		c.wr.Error("ERR ACL GENPASS: reading random bytes: " + err.Error())
		return
	}
	c.wr.BulkString(hex.EncodeToString(buf)[:chars])
}

func cmdACLDryRun(c *conn, args [][]byte) {
	h := c.s.users.Get(string(args[2]))
	if h == nil {
		c.wr.Error(fmt.Sprintf("ERR User '%s' not found", args[2]))
		return
	}
	target := args[3:]
	cmd := c.commandTarget(target)
	if cmd == nil {
		c.wr.Error(fmt.Sprintf("ERR Command '%s' not found", target[0]))
		return
	}
	if !cmd.arityOK(len(target)) {
		c.wr.Error(errArity(cmd))
		return
	}
	if d, arg := aclCheck(h.User(), cmd, target); d != aclAllowed {
		c.wr.BulkString(d.dryRun(cmd, arg))
		return
	}
	c.wr.OK()
}

func cmdACLLoad(c *conn, _ [][]byte) {
	if c.s.aclLoad == nil {
		c.wr.Error(errNoACLFile)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), aclTimeout)
	defer cancel()
	if err := c.s.aclLoad(ctx); err != nil {
		c.wr.Error("ERR " + err.Error())
		return
	}
	c.wr.OK()
}

func cmdACLSave(c *conn, _ [][]byte) {
	if c.s.aclFile == "" {
		c.wr.Error(errNoACLFile)
		return
	}
	c.wr.Error(fmt.Sprintf("ERR ACL SAVE is refused: the ACL file %s is read-only (a mounted Secret); change the users in the Secret, or with ACL SETUSER, which the control plane keeps cluster-wide", c.s.aclFile))
}

// checkACL refuses a command the connection's user may not run, or whose keys or
// channels it may not use, with Redis's NOPERM errors; true: it may run.
func (c *conn) checkACL(cmd *command, args [][]byte) bool {
	u := c.user.Load().User()
	if u.Unrestricted() {
		return true
	}
	d, _ := aclCheck(u, cmd, args)
	if d == aclAllowed {
		return true
	}
	c.reject(cmd, d.noPerm(cmd))
	return false
}

// aclDenial is why a user may not run a command.
type aclDenial uint8

const (
	aclAllowed aclDenial = iota
	aclDeniedCmd
	aclDeniedKey
	aclDeniedChannel
)

// noPerm is the error a command refused so gets.
func (d aclDenial) noPerm(cmd *command) string {
	switch d {
	case aclDeniedCmd:
		return fmt.Sprintf("NOPERM this user has no permissions to run the '%s' command", cmd.fullName())
	case aclDeniedKey:
		return errNoPermKey
	}
	return errNoPermChannel
}

// dryRun is ACL DRYRUN's answer: the denial, naming the key or channel refused.
func (d aclDenial) dryRun(cmd *command, arg []byte) string {
	switch d {
	case aclDeniedCmd:
		return fmt.Sprintf("This user has no permissions to run the '%s' command", cmd.fullName())
	case aclDeniedKey:
		return fmt.Sprintf("This user has no permissions to access the '%s' key", arg)
	}
	return fmt.Sprintf("This user has no permissions to access the '%s' channel", arg)
}

// execChanged is EXEC's answer to a queued command the user may no longer run.
func (d aclDenial) execChanged() string {
	reason := "no permission to execute the command or subcommand"
	switch d {
	case aclDeniedKey:
		reason = "no permission to touch the specified keys"
	case aclDeniedChannel:
		reason = "no permission to access one of the channels used as arguments"
	}
	return "NOPERM ACLs rules changed between the moment the transaction was accumulated and the EXEC call. This command is no longer allowed for the following reason: " + reason
}

// inScript is the error a script's redis.call gets.
func (d aclDenial) inScript() string {
	switch d {
	case aclDeniedCmd:
		return "ERR The user executing the script can't run this command or subcommand"
	case aclDeniedKey:
		return "ERR The user executing the script can't access at least one of the keys mentioned in the command arguments"
	}
	return "ERR The user executing the script can't publish to the channel mentioned in the command"
}

// aclCheck decides whether u may run cmd with args, as Redis's ACLCheckAllUserCommandPerm
// does: the command (commands allowed before AUTH always are), then each key with the
// access its key spec needs, then each channel. arg is the key or channel refused.
func aclCheck(u *acl.User, cmd *command, args [][]byte) (d aclDenial, arg []byte) {
	if cmd.flags&flagNoAuth != 0 {
		return aclAllowed, nil
	}
	if !u.CanRun(cmd.acl) {
		return aclDeniedCmd, nil
	}
	if first, last, step := cmd.keyRange(args); first > 0 && step > 0 {
		for i := first; i <= last && i < len(args); i += step {
			if !u.CanAccessKey(args[i], keyPermission(cmd.keyFlagsIn(args, i))) {
				return aclDeniedKey, args[i]
			}
		}
	}
	if from, pattern, ok := channelArgs(cmd); ok {
		to := len(args)
		if !pattern && (cmd.name == "publish" || cmd.name == "spublish") {
			to = 2
		}
		for _, ch := range args[from:min(to, len(args))] {
			if !u.CanAccessChannel(ch, pattern) {
				return aclDeniedChannel, ch
			}
		}
	}
	return aclAllowed, nil
}

// keyPermission is what a key spec's flags need of the user, as Redis's
// ACLSelectorCheckKey reads them: access needs read, insert, delete and update need write.
func keyPermission(flags []string) acl.Permission {
	var p acl.Permission
	for _, f := range flags {
		switch f {
		case "access":
			p |= acl.PermRead
		case "insert", "delete", "update":
			p |= acl.PermWrite
		}
	}
	return p
}

// channelArgs locates a pub/sub command's channels: from argument from on (PUBLISH and
// SPUBLISH: that one only), as patterns for PSUBSCRIBE.
func channelArgs(cmd *command) (from int, pattern, ok bool) {
	if cmd.parent != nil || cmd.flags&flagPubSub == 0 {
		return 0, false, false
	}
	switch strings.ToLower(cmd.name) {
	case "publish", "spublish", "subscribe", "ssubscribe":
		return 1, false, true
	case "psubscribe":
		return 1, true, true
	}
	return 0, false, false
}
