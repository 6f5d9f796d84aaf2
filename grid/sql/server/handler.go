package server

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/dolthub/go-mysql-server/sql"
	"github.com/dolthub/vitess/go/mysql"
	"github.com/dolthub/vitess/go/sqltypes"
	querypb "github.com/dolthub/vitess/go/vt/proto/query"
)

// limits are the endpoint's bounds on one statement.
type limits struct {
	maxRows, maxBytes int64
	maxExecution      time.Duration // 0: none
}

// handler wraps the engine's MySQL handler: every statement's result is counted
// against the row and byte caps, SELECTs get max_execution_time, and the metrics see
// every statement.
type handler struct {
	mysql.Handler
	lim      limits
	m        *metrics
	sessions *sessions
	plans    *plans     // nil: every execution is planned by the engine
	explain  *explainer // nil: EXPLAIN runs as the engine runs it
}

// counter counts one statement's rows and bytes.
type counter struct {
	lim         limits
	rows, bytes int64
	exceeded    *mysql.SQLError // the cap passed, if any (the engine rewraps the callback's error)
}

func (c *counter) add(res *sqltypes.Result) error {
	if res == nil {
		return nil
	}
	c.rows += int64(len(res.Rows))
	for _, r := range res.Rows {
		for _, v := range r {
			c.bytes += int64(v.Len())
		}
	}
	switch {
	case c.lim.maxRows > 0 && c.rows > c.lim.maxRows:
		c.exceeded = mysql.NewSQLError(mysql.ERTooBigSelect, mysql.SSClientError,
			"the result has more than %d rows (--max-result-rows); narrow it with WHERE or LIMIT", c.lim.maxRows)
	case c.lim.maxBytes > 0 && c.bytes > c.lim.maxBytes:
		c.exceeded = mysql.NewSQLError(mysql.ERTooBigSelect, mysql.SSClientError,
			"the result has more than %d bytes (--max-result-bytes); narrow it with WHERE or LIMIT", c.lim.maxBytes)
	default:
		return nil
	}
	return c.exceeded
}

// start bounds a statement: max_execution_time (the session's, else the flag's) for a
// SELECT, as MySQL applies it to read-only SELECTs only.
func (h *handler) start(ctx context.Context, c *mysql.Conn, query string) (context.Context, context.CancelFunc, time.Duration) {
	if !isSelect(query) {
		return ctx, func() {}, 0
	}
	d := h.lim.maxExecution
	if ms := h.sessions.maxExecutionTime(c.ConnectionID); ms > 0 {
		d = time.Duration(ms) * time.Millisecond
	}
	if d <= 0 {
		return ctx, func() {}, 0
	}
	ctx, cancel := context.WithTimeout(ctx, d)
	return ctx, cancel, d
}

func isSelect(query string) bool {
	w := firstWord(query)
	return w == "select" || w == "with"
}

// firstWord is the statement's first word in lower case, after comments and parentheses.
func firstWord(query string) string {
	q := strings.TrimLeft(query, " \t\r\n(")
	for strings.HasPrefix(q, "/*") {
		end := strings.Index(q, "*/")
		if end < 0 {
			return ""
		}
		q = strings.TrimLeft(q[end+2:], " \t\r\n(")
	}
	end := strings.IndexFunc(q, func(r rune) bool {
		return (r < 'a' || r > 'z') && (r < 'A' || r > 'Z') && r != '_'
	})
	if end < 0 {
		end = len(q)
	}
	return strings.ToLower(q[:end])
}

// finish maps the statement's end to MySQL's errors and records it.
func (h *handler) finish(ctx context.Context, begin time.Time, limit time.Duration, cnt *counter, err error) error {
	switch {
	case err == nil:
	case cnt.exceeded != nil:
		err = cnt.exceeded
	case limit > 0 && errors.Is(ctx.Err(), context.DeadlineExceeded):
		err = mysql.NewSQLError(mysql.ERQueryTimeout, mysql.SSUnknownSQLState,
			"Query execution was interrupted, maximum statement execution time (%s) exceeded", limit)
	}
	err = mysqlError(err)
	h.m.observe(time.Since(begin), cnt.rows, err)
	return err
}

// ComPrepare implements mysql.Handler: its errors get MySQL's codes too.
func (h *handler) ComPrepare(ctx context.Context, c *mysql.Conn, query string, prepare *mysql.PrepareData) ([]*querypb.Field, error) {
	fields, err := h.Handler.ComPrepare(ctx, c, query, prepare)
	return fields, mysqlError(err)
}

// ComQuery implements mysql.Handler.
func (h *handler) ComQuery(ctx context.Context, c *mysql.Conn, query string, callback mysql.ResultSpoolFn) error {
	begin := time.Now()
	h.forgetPlansOnSet(c, query)
	ctx, cancel, limit := h.start(ctx, c, query)
	defer cancel()
	cnt := &counter{lim: h.lim}
	counted := func(res *sqltypes.Result, more bool) error {
		if err := cnt.add(res); err != nil {
			return err
		}
		return callback(res, more)
	}
	done, err := h.explain.explain(ctx, c, query, nil, counted)
	if !done {
		err = h.Handler.ComQuery(ctx, c, query, counted)
	}
	return h.finish(ctx, begin, limit, cnt, err)
}

// ComMultiQuery implements mysql.Handler.
func (h *handler) ComMultiQuery(ctx context.Context, c *mysql.Conn, query string, callback mysql.ResultSpoolFn) (string, error) {
	begin := time.Now()
	h.forgetPlansOnSet(c, query)
	ctx, cancel, limit := h.start(ctx, c, query)
	defer cancel()
	cnt := &counter{lim: h.lim}
	counted := func(res *sqltypes.Result, more bool) error {
		if err := cnt.add(res); err != nil {
			return err
		}
		return callback(res, more)
	}
	// An EXPLAIN is run here when it is the only statement; one of several runs as the
	// engine runs it.
	if done, err := h.explain.explain(ctx, c, query, nil, counted); done {
		return "", h.finish(ctx, begin, limit, cnt, err)
	}
	rest, err := h.Handler.ComMultiQuery(ctx, c, query, counted)
	return rest, h.finish(ctx, begin, limit, cnt, err)
}

// ComStmtExecute implements mysql.Handler.
func (h *handler) ComStmtExecute(ctx context.Context, c *mysql.Conn, prepare *mysql.PrepareData, callback func(*sqltypes.Result) error) error {
	begin := time.Now()
	h.forgetPlansOnSet(c, prepare.PrepareStmt)
	ctx, cancel, limit := h.start(ctx, c, prepare.PrepareStmt)
	defer cancel()
	cnt := &counter{lim: h.lim}
	counted := func(res *sqltypes.Result) error {
		if err := cnt.add(res); err != nil {
			return err
		}
		return callback(res)
	}
	done, err := h.explain.explain(ctx, c, prepare.PrepareStmt, prepare, func(res *sqltypes.Result, _ bool) error { return counted(res) })
	if !done && h.plans != nil {
		done, err = h.plans.execute(ctx, c, prepare, counted)
	}
	if !done {
		err = h.Handler.ComStmtExecute(ctx, c, prepare, counted)
	}
	return h.finish(ctx, begin, limit, cnt, err)
}

// forgetPlansOnSet drops the connection's reused plans when query is a SET (of a session
// variable that may change how statements plan, such as sql_select_limit).
func (h *handler) forgetPlansOnSet(c *mysql.Conn, query string) {
	if h.plans != nil && firstWord(query) == "set" {
		h.plans.forget(c.ConnectionID)
	}
}

// ComResetConnection implements mysql.Handler: the connection gets a new session, so
// its reused plans go too (they were made under the old session's variables).
func (h *handler) ComResetConnection(c *mysql.Conn) error {
	if h.plans != nil {
		h.plans.forget(c.ConnectionID)
	}
	return h.Handler.ComResetConnection(c)
}

// ConnectionClosed implements mysql.Handler.
func (h *handler) ConnectionClosed(c *mysql.Conn) {
	h.sessions.remove(c.ConnectionID)
	if h.plans != nil {
		h.plans.forget(c.ConnectionID)
	}
	h.Handler.ConnectionClosed(c)
}

// readContext is the context session variables are read with: made once, since a new
// context makes a whole session (a fifth of a point select's CPU).
var readContext = sync.OnceValue(sql.NewEmptyContext)

// sessions are the open connections' sessions, for their max_execution_time.
type sessions struct {
	mu   sync.Mutex
	byID map[uint32]sql.Session
}

func (s *sessions) add(id uint32, sess sql.Session) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.byID == nil {
		s.byID = map[uint32]sql.Session{}
	}
	s.byID[id] = sess
}

// get is the connection's session; nil when it has none.
func (s *sessions) get(id uint32) sql.Session {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.byID[id]
}

// clearWarnings clears the session's warnings, as the engine does when a statement
// (other than SHOW WARNINGS) starts.
func (s *sessions) clearWarnings(id uint32) {
	s.mu.Lock()
	sess := s.byID[id]
	s.mu.Unlock()
	if sess != nil {
		sess.ClearWarnings()
	}
}

func (s *sessions) remove(id uint32) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.byID, id)
}

// maxExecutionTime is the session's max_execution_time in milliseconds (0: none).
func (s *sessions) maxExecutionTime(id uint32) int64 {
	s.mu.Lock()
	sess := s.byID[id]
	s.mu.Unlock()
	if sess == nil {
		return 0
	}
	v, err := sess.GetSessionVariable(readContext(), "max_execution_time")
	if err != nil {
		return 0
	}
	switch n := v.(type) {
	case int64:
		return n
	case uint64:
		return int64(n)
	case int:
		return int64(n)
	case int32:
		return int64(n)
	}
	var n int64
	_, _ = fmt.Sscan(fmt.Sprint(v), &n)
	return n
}
