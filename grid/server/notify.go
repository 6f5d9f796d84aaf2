package server

import (
	"fmt"
	"strings"

	"github.com/insightgrid/insight/grid/store"
)

// Keyspace notifications as Redis 7.0 sends them (notify.c): a command that changes a key
// publishes, on this instance only, the event on __keyspace@0__:<key> and the key on
// __keyevent@0__:<event>, for the classes notify-keyspace-events enables. The commands
// call notify where Redis calls notifyKeyspaceEvent, with Redis's event names and in
// Redis's order; the store reports the keys expiry and eviction remove (SetKeyEvents).
//
// The events are node-local, as in Redis Cluster: they go to this instance's subscribers
// through publish, never to the forwarders that carry a client's PUBLISH to the other
// instances, so a dashboard subscribes on every primary it follows. A backup applies its
// primary's journal without running commands, expiry or eviction, so it sends none.
//
// Off (the default), each hook costs one atomic load: notifying reads the flags once.

// notifyClass is a set of Redis's NOTIFY_* classes, with Redis's bit values.
type notifyClass uint32

const (
	notifyKeyspace notifyClass = 1 << iota // K
	notifyKeyevent                         // E
	notifyGeneric                          // g
	notifyString                           // $
	notifyList                             // l
	notifySet                              // s
	notifyHash                             // h
	notifyZSet                             // z
	notifyExpired                          // x
	notifyEvicted                          // e
	notifyStream                           // t
	notifyKeyMiss                          // m (Redis sends none outside modules)
	notifyLoaded                           // modules only
	notifyModule                           // d
	notifyNew                              // n

	// notifyAll is what A stands for: every class but m and n.
	notifyAll = notifyGeneric | notifyString | notifyList | notifySet | notifyHash |
		notifyZSet | notifyExpired | notifyEvicted | notifyStream | notifyModule
)

// notifyChars maps each character of notify-keyspace-events to its classes.
var notifyChars = map[byte]notifyClass{
	'A': notifyAll, 'g': notifyGeneric, '$': notifyString, 'l': notifyList, 's': notifySet,
	'h': notifyHash, 'z': notifyZSet, 'x': notifyExpired, 'e': notifyEvicted,
	'K': notifyKeyspace, 'E': notifyKeyevent, 't': notifyStream, 'm': notifyKeyMiss,
	'd': notifyModule, 'n': notifyNew,
}

// errNotifyClasses is Redis 7.0's reason for refusing a notify-keyspace-events value.
const errNotifyClasses = "Invalid event class character. Use 'Ag$lshzxeKEtmdn'."

// parseNotifyClasses is Redis's keyspaceEventsStringToFlags: ok is false when v has a
// character that names no class.
func parseNotifyClasses(v string) (notifyClass, bool) {
	var f notifyClass
	for i := range len(v) {
		c, ok := notifyChars[v[i]]
		if !ok {
			return 0, false
		}
		f |= c
	}
	return f, true
}

// ValidateNotifyKeyspaceEvents checks a notify-keyspace-events value (a startup flag)
// as CONFIG SET does.
func ValidateNotifyKeyspaceEvents(v string) error {
	if _, ok := parseNotifyClasses(v); !ok {
		return fmt.Errorf("notify-keyspace-events %q: %s", v, errNotifyClasses)
	}
	return nil
}

// String is Redis's keyspaceEventsFlagsToString: the canonical form CONFIG GET reports.
func (f notifyClass) String() string {
	var b strings.Builder
	if f&notifyAll == notifyAll {
		b.WriteByte('A')
	} else {
		for _, c := range []struct {
			class notifyClass
			ch    byte
		}{
			{notifyGeneric, 'g'}, {notifyString, '$'}, {notifyList, 'l'}, {notifySet, 's'},
			{notifyHash, 'h'}, {notifyZSet, 'z'}, {notifyExpired, 'x'}, {notifyEvicted, 'e'},
			{notifyStream, 't'}, {notifyModule, 'd'}, {notifyNew, 'n'},
		} {
			if f&c.class != 0 {
				b.WriteByte(c.ch)
			}
		}
	}
	for _, c := range []struct {
		class notifyClass
		ch    byte
	}{{notifyKeyspace, 'K'}, {notifyKeyevent, 'E'}, {notifyKeyMiss, 'm'}} {
		if f&c.class != 0 {
			b.WriteByte(c.ch)
		}
	}
	return b.String()
}

// setKeyEvents applies a notify-keyspace-events value.
func (s *Server) setKeyEvents(f notifyClass) {
	s.keyEvents.Store(uint32(f))
}

// notifying reports whether events of class are sent: the class is on, and K or E.
func (s *Server) notifying(class notifyClass) bool {
	f := notifyClass(s.keyEvents.Load())
	return f&class != 0 && f&(notifyKeyspace|notifyKeyevent) != 0
}

// storeKeyEvent is the store's report of a key expiry or eviction removed: the key's
// waiters are offered the deletion (keyDropped), and its event is sent when its class is on.
func (s *Server) storeKeyEvent(ev store.KeyEvent, slot int, key []byte) {
	s.keyDropped(slot, key)
	switch ev {
	case store.KeyExpired:
		s.notifyKey(notifyExpired, "expired", key)
	case store.KeyEvicted:
		s.notifyKey(notifyEvicted, "evicted", key)
	}
}

// notifyKey is Redis's notifyKeyspaceEvent for database 0.
func (s *Server) notifyKey(class notifyClass, event string, key []byte) {
	f := notifyClass(s.keyEvents.Load())
	if f&class == 0 {
		return
	}
	if f&notifyKeyspace != 0 {
		s.publish(kindChannel, append([]byte("__keyspace@0__:"), key...), []byte(event))
	}
	if f&notifyKeyevent != 0 {
		s.publish(kindChannel, []byte("__keyevent@0__:"+event), key)
	}
}

// notify sends event for key, a key the current command changed; before the first event
// of a key the command created, the "new" event Redis's dbAdd sends.
func (c *conn) notify(class notifyClass, event string, key []byte) {
	if !c.s.notifying(class | notifyNew) {
		return
	}
	c.notifyCreated(key)
	c.s.notifyKey(class, event, key)
}

// notifyCreated sends "new" for key if it was absent when the command began and has not
// had its "new" yet.
func (c *conn) notifyCreated(key []byte) {
	for i, k := range c.absent {
		if string(k) == string(key) {
			c.absent = append(c.absent[:i], c.absent[i+1:]...)
			c.s.notifyKey(notifyNew, "new", key)
			return
		}
	}
}

// notifyIfDeleted sends "del" for key when the command removed it (a pop took its last
// element), as Redis does after such a command's own event.
func (c *conn) notifyIfDeleted(key []byte) {
	if c.s.notifying(notifyGeneric) && !c.s.store.Exists(key) {
		c.s.notifyKey(notifyGeneric, "del", key)
	}
}

// beforeKeyEvents prepares the events of cmd, about to run: with expired events on, its
// keys that have expired are removed first, as Redis's lookups do (the store's reads
// leave them to the writes and the expiry cycle); with keymiss events on, those of its
// missing keys Redis looks up as reads send "keymiss"; with new events on, the keys
// absent now are noted, for notify.
func (c *conn) beforeKeyEvents(cmd *command, args [][]byte) {
	c.absent = c.absent[:0]
	if !c.s.notifying(notifyExpired | notifyNew | notifyKeyMiss) {
		return
	}
	expire, created := c.s.notifying(notifyExpired), c.s.notifying(notifyNew) && cmd.flags&flagWrite != 0
	misses := 0 // keymiss events per missing key
	if cmd.flags&flagReadonly != 0 && c.s.notifying(notifyKeyMiss) {
		misses = readMisses(cmd)
	}
	look := func(key []byte, misses int) {
		if expire {
			c.s.store.ExpireIfNeeded(key)
		}
		if (created || misses > 0) && !c.s.store.Exists(key) {
			if created {
				c.absent = append(c.absent, key)
			}
			for range misses {
				c.s.notifyKey(notifyKeyMiss, "keymiss", key)
			}
		}
	}
	first, last, step := cmd.keyRange(args)
	for i := first; first > 0 && i <= last && i < len(args); i += step {
		look(args[i], misses)
	}
	// The destination of ZUNIONSTORE and the like, before the counted keys, which Redis
	// looks at last.
	if cmd.movable != nil && cmd.firstKey > 0 && cmd.firstKey < first && cmd.firstKey < len(args) {
		look(args[cmd.firstKey], 0)
	}
	if cmd.flags&flagWrite != 0 && c.s.notifying(notifyKeyMiss) {
		for _, k := range readLookups(cmd, args, first, last) {
			if !c.s.store.Exists(k) {
				c.s.notifyKey(notifyKeyMiss, "keymiss", k)
			}
		}
	}
}

// notifySet sends SET's events: "set", then "expire" when it set an expiry.
func (c *conn) notifySet(key []byte, expire bool) {
	c.notify(notifyString, "set", key)
	if expire {
		c.notify(notifyGeneric, "expire", key)
	}
}

// notifyEach sends event for every step-th of keys (MSET's keys among their values).
func (c *conn) notifyEach(class notifyClass, event string, keys [][]byte, step int) {
	if !c.s.notifying(class | notifyNew) {
		return
	}
	for i := 0; i < len(keys); i += step {
		c.notify(class, event, keys[i])
	}
}

// notifyAdded sends "new" for key, which the command stored anew whether or not it
// existed (RENAME, COPY and RESTORE replace a key as Redis's dbDelete and dbAdd do).
func (c *conn) notifyAdded(key []byte) {
	if !c.s.notifying(notifyNew) {
		return
	}
	for i, k := range c.absent {
		if string(k) == string(key) {
			c.absent = append(c.absent[:i], c.absent[i+1:]...)
			break
		}
	}
	c.s.notifyKey(notifyNew, "new", key)
}

// notifyExpire sends the event of an expiry set on key: "expire", or "del" when the
// time had passed and the key is gone.
func (c *conn) notifyExpire(key []byte) {
	if c.s.notifying(notifyGeneric) && !c.s.store.Exists(key) {
		c.s.notifyKey(notifyGeneric, "del", key)
		return
	}
	c.notify(notifyGeneric, "expire", key)
}

// notifyRestore sends RESTORE's events: "new" and "restore", or, for a payload whose TTL
// has passed, "del" when REPLACE removed the key it would have replaced.
func (c *conn) notifyRestore(key []byte, expired, replaced bool) {
	switch {
	case expired && replaced:
		c.s.notifyKey(notifyGeneric, "del", key)
	case !expired:
		c.notifyAdded(key)
		c.notify(notifyGeneric, "restore", key)
	}
}

// notifyRemoved sends event for key, from which the command removed elements, then
// "del" if that emptied it.
func (c *conn) notifyRemoved(class notifyClass, event string, key []byte) {
	if !c.s.notifying(class | notifyGeneric) {
		return
	}
	c.notify(class, event, key)
	c.notifyIfDeleted(key)
}

// notifyStored sends the events of a command that stores a result at key: event when
// the result is not empty, else "del" when the key existed and is now removed.
func (c *conn) notifyStored(class notifyClass, event string, key []byte, stored, existed bool) {
	switch {
	case stored:
		c.notify(class, event, key)
	case existed:
		c.s.notifyKey(notifyGeneric, "del", key)
	}
}

// listEvent is the list event of op ("push" or "pop") at an end: lpush, rpop...
func listEvent(op string, left bool) string {
	if left {
		return "l" + op
	}
	return "r" + op
}

// notifyMove sends LMOVE's events as Redis's lmoveGenericCommand does: the push on dst,
// then the pop on src, then "del" if that emptied src.
func (c *conn) notifyMove(src, dst []byte, fromLeft, toLeft bool) {
	if !c.s.notifying(notifyList | notifyGeneric | notifyNew) {
		return
	}
	c.notify(notifyList, listEvent("push", toLeft), dst)
	c.notifyRemoved(notifyList, listEvent("pop", fromLeft), src)
}

// noteAbsent notes, for a blocked command served now (its keys were looked at when it
// parked), which of keys do not exist, for the "new" events.
func (c *conn) noteAbsent(keys ...[]byte) {
	c.absent = c.absent[:0]
	if !c.s.notifying(notifyNew) {
		return
	}
	for _, k := range keys {
		if !c.s.store.Exists(k) {
			c.absent = append(c.absent, k)
		}
	}
}

// zpopEvent is the event of ZPOPMIN (top false) or ZPOPMAX, and of the commands that pop
// like them (ZMPOP, BZPOPMIN...).
func zpopEvent(top bool) string {
	if top {
		return "zpopmax"
	}
	return "zpopmin"
}

// notifyXAdd sends XADD's events: "xadd", then "xtrim" when its trimming removed entries
// (before is the stream's length before, -1 when it did not trim).
func (c *conn) notifyXAdd(key []byte, before int64) {
	c.notify(notifyStream, "xadd", key)
	if before < 0 {
		return
	}
	if after, err := c.s.store.XLen(key); err == nil && after < before+1 {
		c.notify(notifyStream, "xtrim", key)
	}
}

// notifyBitfield sends BITFIELD's "setbit" when one of its SET or INCRBY operations ran
// (an INCRBY that overflowed with OVERFLOW FAIL did not: its reply is nil).
func (c *conn) notifyBitfield(key []byte, ops []bitfieldOp, replies []*int64) {
	for i := range ops {
		if ops[i].code != bfGet && replies[i] != nil {
			c.notify(notifyString, "setbit", key)
			return
		}
	}
}

// consumersAbsent returns those of the streams at keys whose group has no consumer
// cname, while stream events are on (nil otherwise): the commands that create a consumer
// as they go (XREADGROUP, XCLAIM, XAUTOCLAIM) send "xgroup-createconsumer" for it.
func (c *conn) consumersAbsent(keys [][]byte, group, cname []byte) [][]byte {
	if !c.s.notifying(notifyStream | notifyNew) {
		return nil
	}
	var out [][]byte
	for _, k := range keys {
		if !c.hasConsumer(k, group, cname) {
			out = append(out, k)
		}
	}
	return out
}

// hasConsumer reports whether the group of the stream at key has a consumer cname.
func (c *conn) hasConsumer(key, group, cname []byte) bool {
	cs, _, err := c.s.store.XInfoConsumers(key, group)
	if err != nil {
		return false
	}
	for _, ci := range cs {
		if ci.Name == string(cname) {
			return true
		}
	}
	return false
}

// notifyConsumers sends "xgroup-createconsumer" for those of keys (consumersAbsent's)
// whose group now has the consumer cname.
func (c *conn) notifyConsumers(keys [][]byte, group, cname []byte) {
	for _, k := range keys {
		if c.hasConsumer(k, group, cname) {
			c.notify(notifyStream, "xgroup-createconsumer", k)
		}
	}
}
