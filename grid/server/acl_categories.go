package server

import (
	"sort"

	"github.com/insightgrid/insight/grid/acl"
)

// groupCategories are the ACL categories a command's group gives it, as Redis 7.0's
// command JSON files give them to the commands of each group.
var groupCategories = map[string]acl.Category{
	"string":      acl.String,
	"keyspace":    acl.Keyspace,
	"hash":        acl.Hash,
	"list":        acl.List,
	"set":         acl.Set,
	"sorted-set":  acl.SortedSet,
	"stream":      acl.Stream,
	"pubsub":      acl.PubSub,
	"hyperloglog": acl.HyperLogLog,
	"bitmap":      acl.Bitmap,
	"geo":         acl.Geo,
	"scripting":   acl.Scripting,
	"transaction": acl.Transaction,
	"connection":  acl.Connection,
}

// categoryExceptions are the commands whose Redis 7.0 categories are not what their
// group and flags make them: categories added, and group categories Redis does not give.
var categoryExceptions = map[string]struct{ add, drop acl.Category }{
	"asking":    {add: acl.Connection},
	"readonly":  {add: acl.Connection},
	"readwrite": {add: acl.Connection},
	"dbsize":    {add: acl.Keyspace},
	"flushall":  {add: acl.Keyspace | acl.Dangerous},
	"flushdb":   {add: acl.Keyspace | acl.Dangerous},
	"info":      {add: acl.Dangerous},
	"keys":      {add: acl.Dangerous},
	"restore":   {add: acl.Dangerous},
	"sort":      {add: acl.Set | acl.SortedSet | acl.Dangerous},
	"sort_ro":   {add: acl.Set | acl.SortedSet | acl.Dangerous},
	// COMMAND is in the server group, its subcommands in @connection.
	"command|count":           {add: acl.Connection},
	"command|docs":            {add: acl.Connection},
	"command|getkeys":         {add: acl.Connection},
	"command|getkeysandflags": {add: acl.Connection},
	"command|help":            {add: acl.Connection},
	"command|info":            {add: acl.Connection},
	"command|list":            {add: acl.Connection},
	"pubsub|help":             {drop: acl.PubSub},
}

// aclCategories are cmd's ACL categories, as COMMAND INFO reports them and ACL rules
// (+@category) use them: its group's, those its flags imply (acl.Implicit), and the
// exceptions Redis 7.0 makes. A container (CLIENT, CONFIG) is only @slow (and COMMAND,
// which is a command too, @connection), as in Redis: its subcommands have categories.
func aclCategories(cmd *command) acl.Category {
	if len(cmd.subs) > 0 {
		if cmd.name == "command" {
			return acl.Slow | acl.Connection
		}
		return acl.Slow
	}
	group := cmd.group
	if cmd.parent != nil {
		group = cmd.parent.group
	}
	explicit := groupCategories[group]
	ex := categoryExceptions[cmd.fullName()]
	explicit = explicit&^ex.drop | ex.add
	return acl.Implicit(explicit, acl.CommandTraits{
		Write:    cmd.flags&flagWrite != 0,
		ReadOnly: cmd.flags&flagReadonly != 0,
		Admin:    cmd.flags&flagAdmin != 0,
		PubSub:   cmd.flags&flagPubSub != 0,
		Fast:     cmd.flags&flagFast != 0,
		Blocking: cmd.flags&flagBlocking != 0,
	})
}

// newCatalog gives every command and subcommand of table its categories and its entry
// in the ACL catalog users are parsed against.
func newCatalog(table map[string]*command) *acl.Catalog {
	cat := acl.NewCatalog()
	names := make([]string, 0, len(table))
	for name := range table {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		cmd := table[name]
		cmd.categories = aclCategories(cmd)
		cmd.acl = cat.Add(cmd.name, cmd.categories, nil)
		for _, sub := range sortedSubs(cmd) {
			sub.categories = aclCategories(sub)
			sub.acl = cat.Add(sub.name, sub.categories, cmd.acl)
		}
	}
	return cat
}
