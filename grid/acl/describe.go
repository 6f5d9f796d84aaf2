package acl

import "strings"

// Flags are the user's flags as ACL GETUSER lists them: on or off, then nopass,
// sanitize-payload, skip-sanitize-payload when set.
func (u *User) Flags() []string {
	out := []string{"off"}
	if u.enabled {
		out[0] = "on"
	}
	if u.noPass {
		out = append(out, "nopass")
	}
	if u.sanitize {
		out = append(out, "sanitize-payload")
	}
	if u.skipSanitize {
		out = append(out, "skip-sanitize-payload")
	}
	return out
}

// Passwords are the SHA-256 digests of the user's passwords.
func (u *User) Passwords() []string { return append([]string(nil), u.passwords...) }

// CommandRules describe the commands the user may run: +@all or -@all, then the rules
// applied since, in order.
func (u *User) CommandRules() string {
	base := "-@all"
	if u.future {
		base = "+@all"
	}
	if len(u.rules) == 0 {
		return base
	}
	return base + " " + strings.Join(u.rules, " ")
}

// KeyRules describe the keys the user may access: ~* for all, else its patterns.
func (u *User) KeyRules() string { return strings.Join(u.keyRules(), " ") }

func (u *User) keyRules() []string {
	if u.allKeys {
		return []string{"~*"}
	}
	out := make([]string, len(u.keys))
	for i, p := range u.keys {
		out[i] = p.String()
	}
	return out
}

// ChannelRules describe the channels the user may use: &* for all, else its patterns.
func (u *User) ChannelRules() string { return strings.Join(u.channelRules(), " ") }

func (u *User) channelRules() []string {
	if u.allChans {
		return []string{"&*"}
	}
	out := make([]string, len(u.channels))
	for i, c := range u.channels {
		out[i] = "&" + c
	}
	return out
}

// Rules are the rules that rebuild the user from NewUser, as ACL LIST shows them after
// "user <name>": flags, password digests, keys, channels (after resetchannels unless all),
// commands.
func (u *User) Rules() []string {
	out := u.Flags()
	for _, p := range u.passwords {
		out = append(out, "#"+p)
	}
	out = append(out, u.keyRules()...)
	if !u.allChans {
		out = append(out, "resetchannels")
	}
	out = append(out, u.channelRules()...)
	return append(out, strings.Fields(u.CommandRules())...)
}

// String is the user's ACL LIST line: "user <name> <rules>".
func (u *User) String() string { return "user " + u.Name + " " + strings.Join(u.Rules(), " ") }
