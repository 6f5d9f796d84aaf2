// Package acl is the grid's model of Redis 7.0 ACL users: the rules ACL SETUSER and an
// ACL file take (on|off, >pass, <pass, #hash, !hash, nopass, resetpass, ~pattern,
// %R~/%W~ key permissions, allkeys, resetkeys, &channel, allchannels, resetchannels,
// +cmd, -cmd, +cmd|sub, +@category, -@category, allcommands, nocommands, reset), the
// checks a command goes through (may the user run it, touch its keys, use its
// channels), the descriptions ACL LIST and ACL GETUSER give, and the set of users an
// instance knows (Users), which the control plane keeps the same on every instance.
//
// The package knows commands only through a Catalog the server builds from its command
// table: each command and subcommand has an id and the categories COMMAND INFO reports,
// so the categories have one source of truth. Selectors ("(...)") are not supported.
package acl
