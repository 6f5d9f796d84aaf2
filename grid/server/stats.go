package server

import (
	"fmt"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// cmdStats are a command's counters INFO commandstats reports, as Redis counts them:
// calls that ran (failed ones included), their time, calls refused before running
// (arity, routing, OOM) and calls that answered an error.
type cmdStats struct {
	calls, usec, rejected, failed atomic.Int64
}

// maxErrorStats bounds the distinct error prefixes counted, as Redis's errorstats does.
const maxErrorStats = 128

// errorStats counts error replies by their first word (INFO errorstats).
type errorStats struct {
	mu     sync.Mutex
	counts map[string]int64
	total  int64
}

// countError counts the error reply reply (a RESP error line).
func (s *Server) countError(reply []byte) {
	prefix := reply[1:]
	for i, ch := range prefix {
		if ch == ' ' || ch == '\r' || i >= 32 {
			prefix = prefix[:i]
			break
		}
	}
	e := &s.errStats
	e.mu.Lock()
	defer e.mu.Unlock()
	e.total++
	if e.counts == nil {
		e.counts = map[string]int64{}
	}
	if _, ok := e.counts[string(prefix)]; ok || len(e.counts) < maxErrorStats {
		e.counts[string(prefix)]++
	}
}

// account records one command: executed (its handler ran), errored (the reply starts
// with an error).
func (s *Server) account(cmd *command, executed, errored bool, took time.Duration) {
	switch {
	case !executed:
		if errored {
			cmd.stats.rejected.Add(1)
		}
		return
	case errored:
		cmd.stats.failed.Add(1)
	}
	cmd.stats.calls.Add(1)
	cmd.stats.usec.Add(took.Microseconds())
}

// tally is what a connection's commands of one kind (cmd) added to the shared counters
// since it last folded them in: dispatched commands (total_commands_processed), and of
// those the calls that ran and answered no error (the counters of INFO commandstats,
// insight_grid_commands_total and the latency histogram). The shared counters are written
// by every connection; one addition per batch of commands instead of several per command
// keeps their cache lines from moving between cores at each command. A connection folds
// its tally in before it sends replies and before it runs another command, so a client
// that got a reply, or that reads the counters itself, sees its commands counted.
type tally struct {
	cmd        *command
	dispatched int64
	calls      int64
	usec       int64
	nanos      int64
	buckets    [len(latencyBounds) + 1]uint32
}

// add counts one call of t.cmd that ran without error and took took.
func (t *tally) add(took time.Duration) {
	t.calls++
	t.usec += took.Microseconds()
	t.nanos += int64(took)
	t.buckets[latencyBucket(took)]++
}

// fold adds the tally to the shared counters and empties it (cmd stays).
func (t *tally) fold(s *Server) {
	if t.dispatched == 0 {
		return
	}
	s.cmdsTotal.Add(t.dispatched)
	if cmd := t.cmd; t.calls > 0 {
		cmd.stats.calls.Add(t.calls)
		cmd.stats.usec.Add(t.usec)
		cmd.ok.Add(float64(t.calls))
		cmd.latency.sum.Add(t.nanos)
		for i, n := range t.buckets {
			if n > 0 {
				cmd.latency.buckets[i].Add(uint64(n))
			}
		}
	}
	*t = tally{cmd: t.cmd}
}

// commandStats is INFO's commandstats section: every command (and subcommand) called or
// refused at least once.
func (s *Server) commandStats() [][2]string {
	var out [][2]string
	var add func(cmd *command)
	add = func(cmd *command) {
		st := &cmd.stats
		calls, usec, rej, failed := st.calls.Load(), st.usec.Load(), st.rejected.Load(), st.failed.Load()
		if calls+rej+failed > 0 {
			per := 0.0
			if calls > 0 {
				per = float64(usec) / float64(calls)
			}
			out = append(out, [2]string{"cmdstat_" + cmd.fullName(), fmt.Sprintf("calls=%d,usec=%d,usec_per_call=%.2f,rejected_calls=%d,failed_calls=%d",
				calls, usec, per, rej, failed)})
		}
		for _, sub := range sortedSubs(cmd) {
			add(sub)
		}
	}
	for _, cmd := range s.sortedCommands() {
		add(cmd)
	}
	return out
}

// errorStatsInfo is INFO's errorstats section.
func (s *Server) errorStatsInfo() [][2]string {
	e := &s.errStats
	e.mu.Lock()
	defer e.mu.Unlock()
	names := make([]string, 0, len(e.counts))
	for k := range e.counts {
		names = append(names, k)
	}
	slices.Sort(names)
	out := make([][2]string, 0, len(names))
	for _, k := range names {
		out = append(out, [2]string{"errorstat_" + k, "count=" + strconv.FormatInt(e.counts[k], 10)})
	}
	return out
}

// totalErrors is how many error replies were sent.
func (s *Server) totalErrors() int64 {
	s.errStats.mu.Lock()
	defer s.errStats.mu.Unlock()
	return s.errStats.total
}

// resetStats zeroes what CONFIG RESETSTAT resets.
func (s *Server) resetStats() {
	var reset func(cmd *command)
	reset = func(cmd *command) {
		cmd.stats.calls.Store(0)
		cmd.stats.usec.Store(0)
		cmd.stats.rejected.Store(0)
		cmd.stats.failed.Store(0)
		for _, sub := range cmd.subs {
			reset(sub)
		}
	}
	for _, cmd := range s.cmds {
		reset(cmd)
	}
	s.errStats.mu.Lock()
	s.errStats.counts, s.errStats.total = nil, 0
	s.errStats.mu.Unlock()
	s.cmdsTotal.Store(0)
	s.connsTotal.Store(0)
	s.oomRejected.Store(0)
}
