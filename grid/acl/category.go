package acl

import (
	"math/bits"
	"strings"
)

// Category is a set of Redis ACL command categories, one bit each.
type Category uint32

// The categories in Redis's order (ACL CAT lists them so, COMMAND INFO reports a
// command's in this order).
const (
	Keyspace Category = 1 << iota
	Read
	Write
	Set
	SortedSet
	List
	Hash
	String
	Bitmap
	HyperLogLog
	Geo
	Stream
	PubSub
	Admin
	Fast
	Slow
	Blocking
	Dangerous
	Connection
	Transaction
	Scripting
	lastCategory
)

var categoryNames = [...]string{
	"keyspace", "read", "write", "set", "sortedset", "list", "hash", "string", "bitmap",
	"hyperloglog", "geo", "stream", "pubsub", "admin", "fast", "slow", "blocking",
	"dangerous", "connection", "transaction", "scripting",
}

// CategoryNames are the category names in Redis's order, as ACL CAT lists them.
func CategoryNames() []string { return append([]string(nil), categoryNames[:]...) }

// ParseCategory finds a category by name (without the @), case-insensitively.
func ParseCategory(name string) (Category, bool) {
	for i, n := range categoryNames {
		if strings.EqualFold(n, name) {
			return Category(1) << i, true
		}
	}
	return 0, false
}

// Names are the names of the categories in c, in Redis's order.
func (c Category) Names() []string {
	out := make([]string, 0, bits.OnesCount32(uint32(c)))
	for i, n := range categoryNames {
		if c&(Category(1)<<i) != 0 {
			out = append(out, n)
		}
	}
	return out
}

// CommandTraits are the command flags that imply categories (Redis's
// setImplicitACLCategories).
type CommandTraits struct {
	Write, ReadOnly, Admin, PubSub, Fast, Blocking bool
}

// Implicit adds to explicit the categories a command's flags imply, as Redis does: write
// makes @write; readonly @read (not for @scripting commands); admin @admin and
// @dangerous; pubsub @pubsub; fast @fast; blocking @blocking; a command not @fast is @slow.
func Implicit(explicit Category, t CommandTraits) Category {
	c := explicit
	if t.Write {
		c |= Write
	}
	if t.ReadOnly && c&Scripting == 0 {
		c |= Read
	}
	if t.Admin {
		c |= Admin | Dangerous
	}
	if t.PubSub {
		c |= PubSub
	}
	if t.Fast {
		c |= Fast
	}
	if t.Blocking {
		c |= Blocking
	}
	if c&Fast == 0 {
		c |= Slow
	}
	return c
}
