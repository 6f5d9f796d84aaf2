package acl

import "strings"

// Command is a command or subcommand as ACL rules name it.
type Command struct {
	// ID indexes the users' command bitmaps.
	ID int
	// Name is the full lower-case name: "get", or "client|id" for a subcommand.
	Name       string
	Categories Category
	Parent     *Command
	Subs       []*Command
}

// Catalog is every command the server serves, built once at start by the server from its
// command table; users are parsed against it.
type Catalog struct {
	byName map[string]*Command
	all    []*Command
}

// NewCatalog returns an empty catalog.
func NewCatalog() *Catalog { return &Catalog{byName: map[string]*Command{}} }

// Add registers a command (parent nil) or a subcommand of parent under its own name
// ("id" for CLIENT ID) with its categories.
func (c *Catalog) Add(name string, cats Category, parent *Command) *Command {
	name = strings.ToLower(name)
	if parent != nil {
		name = parent.Name + "|" + name
	}
	cmd := &Command{ID: len(c.all), Name: name, Categories: cats, Parent: parent}
	if parent != nil {
		parent.Subs = append(parent.Subs, cmd)
	}
	c.all = append(c.all, cmd)
	c.byName[name] = cmd
	return cmd
}

// Lookup finds a command by full name ("get", "config|get"), case-insensitively.
func (c *Catalog) Lookup(name string) *Command { return c.byName[strings.ToLower(name)] }

// Len is the number of commands and subcommands.
func (c *Catalog) Len() int { return len(c.all) }

// InCategory lists the names of the commands and subcommands in cat, in the order they
// were added.
func (c *Catalog) InCategory(cat Category) []string {
	var out []string
	for _, cmd := range c.all {
		if cmd.Categories&cat != 0 {
			out = append(out, cmd.Name)
		}
	}
	return out
}

// bitmap is a set of command ids.
type bitmap []uint64

func newBitmap(n int) bitmap { return make(bitmap, (n+63)/64) }

func (b bitmap) has(id int) bool { return b[id/64]&(1<<(id%64)) != 0 }

func (b bitmap) set(id int, on bool) {
	if on {
		b[id/64] |= 1 << (id % 64)
	} else {
		b[id/64] &^= 1 << (id % 64)
	}
}
