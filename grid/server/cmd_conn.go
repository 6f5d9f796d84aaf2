package server

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// redisVersion is the Redis release whose protocol and commands the grid implements;
// clients and tools read it from HELLO and INFO to pick features.
const redisVersion = "7.0.0"

func cmdPing(c *conn, args [][]byte) {
	if c.wr.Proto == 2 && c.subscribed() {
		// RESP2 subscribed mode: the reply is an array, as a message is.
		c.wr.Array(2)
		c.wr.BulkString("pong")
		if len(args) > 1 {
			c.wr.Bulk(args[1])
		} else {
			c.wr.BulkString("")
		}
		return
	}
	switch len(args) {
	case 1:
		c.wr.Simple("PONG")
	case 2:
		c.wr.Bulk(args[1])
	default:
		c.wr.Error(errArity(c.s.cmds["ping"]))
	}
}

func cmdEcho(c *conn, args [][]byte) { c.wr.Bulk(args[1]) }

func cmdQuit(c *conn, _ [][]byte) {
	c.wr.OK()
	c.closing = true
}

func cmdOK(c *conn, _ [][]byte) { c.wr.OK() }

// authenticate makes the connection the user's when pass is one of its passwords (or it
// has nopass) and it is on; false: it stays as it was.
func (c *conn) authenticate(user, pass []byte) bool {
	h := c.s.users.Get(string(user))
	if h == nil || !h.User().CheckPassword(pass) {
		return false
	}
	c.user.Store(h)
	c.authed = true
	return true
}

func cmdAuth(c *conn, args [][]byte) {
	if len(args) > 3 {
		c.wr.Error(errSyntax)
		return
	}
	if c.s.cfg.RequirePass == "" && len(args) == 2 {
		c.wr.Error(errNoPassConfig)
		return
	}
	user, pass := []byte("default"), args[1]
	if len(args) == 3 {
		user, pass = args[1], args[2]
	}
	if !c.authenticate(user, pass) {
		c.s.log.Warn("authentication failed", "client", c.addr, "user", string(user))
		c.wr.Error(errWrongPass)
		return
	}
	c.wr.OK()
}

func cmdHello(c *conn, args [][]byte) {
	proto := int64(c.wr.Proto)
	if len(args) >= 2 {
		p, ok := parseInt(args[1])
		if !ok {
			c.wr.Error("ERR Protocol version is not an integer or out of range")
			return
		}
		if p < 2 || p > 3 {
			c.wr.Error("NOPROTO unsupported protocol version")
			return
		}
		proto = p
	}
	var name []byte
	setName := false
	for i := 2; i < len(args); i++ {
		more := len(args) - i - 1
		switch {
		case eqFold(args[i], "auth") && more >= 2:
			if !c.authenticate(args[i+1], args[i+2]) {
				c.wr.Error(errWrongPass)
				return
			}
			i += 2
		case eqFold(args[i], "setname") && more >= 1:
			name, setName = args[i+1], true
			if !validName(name) {
				c.wr.Error(errBadClientName)
				return
			}
			i++
		default:
			c.wr.Error(fmt.Sprintf("ERR Syntax error in HELLO option '%s'", args[i]))
			return
		}
	}
	if !c.authed {
		c.wr.Error("NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time")
		return
	}
	if setName {
		c.mu.Lock()
		c.name = string(name)
		c.mu.Unlock()
	}
	c.wr.Proto = int(proto)
	c.proto.Store(int32(proto))
	role := "master"
	if v := c.s.view.Load(); v != nil {
		if n := v.SelfNode(); n != nil && n.Role != "primary" {
			role = "replica"
		}
	}
	c.wr.Map(7)
	c.wr.BulkString("server")
	c.wr.BulkString("redis")
	c.wr.BulkString("version")
	c.wr.BulkString(redisVersion)
	c.wr.BulkString("proto")
	c.wr.Int(proto)
	c.wr.BulkString("id")
	c.wr.Int(c.id)
	c.wr.BulkString("mode")
	c.wr.BulkString("cluster")
	c.wr.BulkString("role")
	c.wr.BulkString(role)
	c.wr.BulkString("modules")
	c.wr.Array(0)
}

func cmdSelect(c *conn, args [][]byte) {
	n, ok := parseInt(args[1])
	switch {
	case !ok:
		c.wr.Error(errNotInteger)
	case n != 0:
		c.wr.Error("ERR SELECT is not allowed in cluster mode")
	default:
		c.wr.OK()
	}
}

const errBadClientName = "ERR Client names cannot contain spaces, newlines or special characters."

// validName accepts the client names Redis accepts: printable ASCII without spaces.
func validName(b []byte) bool {
	for _, ch := range b {
		if ch < '!' || ch > '~' {
			return false
		}
	}
	return true
}

func cmdClientID(c *conn, _ [][]byte) { c.wr.Int(c.id) }

func cmdClientSetName(c *conn, args [][]byte) {
	if !validName(args[2]) {
		c.wr.Error(errBadClientName)
		return
	}
	c.mu.Lock()
	c.name = string(args[2])
	c.mu.Unlock()
	c.wr.OK()
}

func cmdClientGetName(c *conn, _ [][]byte) {
	c.mu.Lock()
	name := c.name
	c.mu.Unlock()
	if name == "" {
		c.wr.Null()
		return
	}
	c.wr.BulkString(name)
}

func cmdClientSetInfo(c *conn, args [][]byte) {
	attr, val := args[2], string(args[3])
	if strings.ContainsAny(val, " \r\n") {
		c.wr.Error(fmt.Sprintf("ERR %s cannot contain spaces, newlines or special characters.", strings.ToLower(string(attr))))
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case eqFold(attr, "lib-name"):
		c.libName = val
	case eqFold(attr, "lib-ver"):
		c.libVer = val
	default:
		c.wr.Error(fmt.Sprintf("ERR Unrecognized option '%s'", attr))
		return
	}
	c.wr.OK()
}

// info is the CLIENT INFO/LIST line of c, in Redis's field order.
func (c *conn) info(now time.Time) string {
	c.mu.Lock()
	name, libName, libVer := c.name, c.libName, c.libVer
	c.mu.Unlock()
	cmd := "NULL"
	if last := c.lastCmd.Load(); last != nil {
		cmd = last.fullName()
	}
	proto := c.proto.Load()
	if proto == 0 {
		proto = 2
	}
	idle := now.Sub(c.s.started.Add(time.Duration(c.lastAt.Load()))) / time.Second
	flags := "N"
	if c.isBlocked.Load() {
		flags = "b"
	}
	return fmt.Sprintf("id=%d addr=%s laddr=%s fd=-1 name=%s age=%d idle=%d flags=%s db=0 sub=0 psub=0 ssub=0 multi=-1 qbuf=0 qbuf-free=0 argv-mem=0 multi-mem=0 obl=0 oll=0 omem=0 tot-mem=0 events=r cmd=%s user=%s redir=-1 resp=%d lib-name=%s lib-ver=%s\n",
		c.id, c.addr, c.laddr, name, int64(now.Sub(c.created)/time.Second), int64(idle), flags, cmd, c.user.Load().User().Name, proto, libName, libVer)
}

func cmdClientInfo(c *conn, _ [][]byte) { c.wr.Verbatim(c.info(time.Now())) }

func cmdClientList(c *conn, args [][]byte) {
	if len(args) > 2 {
		c.wr.Error(errSyntax)
		return
	}
	c.s.mu.Lock()
	conns := make([]*conn, 0, len(c.s.conns))
	for o := range c.s.conns {
		conns = append(conns, o)
	}
	c.s.mu.Unlock()
	sort.Slice(conns, func(i, j int) bool { return conns[i].id < conns[j].id })
	now := time.Now()
	var b strings.Builder
	for _, o := range conns {
		b.WriteString(o.info(now))
	}
	c.wr.Verbatim(b.String())
}
