package script

import (
	"errors"
	"strings"
)

// Flags are a script's shebang flags (#!lua flags=no-writes,allow-oom), Redis 7.0's.
type Flags uint8

const (
	// NoWrites: the script only reads (it may run on a replica, EVAL_RO-like).
	NoWrites Flags = 1 << iota
	// AllowOOM: the script runs past maxmemory.
	AllowOOM
	// AllowStale: the script runs on a stale replica.
	AllowStale
	// NoCluster: the script refuses to run in cluster mode, which the grid always is.
	NoCluster
	// AllowCrossSlot: the script may access keys of several slots.
	AllowCrossSlot
)

var flagNames = []struct {
	f    Flags
	name string
}{
	{NoWrites, "no-writes"}, {AllowOOM, "allow-oom"}, {AllowStale, "allow-stale"},
	{NoCluster, "no-cluster"}, {AllowCrossSlot, "allow-cross-slot-keys"},
}

// Names are the flags' names, in Redis's order (FUNCTION LIST).
func (f Flags) Names() []string {
	var names []string
	for _, fn := range flagNames {
		if f&fn.f != 0 {
			names = append(names, fn.name)
		}
	}
	return names
}

// ParseFlag is the flag named name.
func ParseFlag(name string) (Flags, bool) {
	for _, fn := range flagNames {
		if fn.name == name {
			return fn.f, true
		}
	}
	return 0, false
}

// parseShebang reads a script's "#!lua [flags=a,b]" first line as Redis 7.0's
// evalExtractShebangFlags does; code is the source without it, its line break kept so
// the lines keep their numbers.
func parseShebang(body string) (flags Flags, shebang bool, code string, err error) {
	if !strings.HasPrefix(body, "#!") {
		return 0, false, body, nil
	}
	end := strings.IndexByte(body, '\n')
	if end < 0 {
		return 0, false, "", errors.New("ERR Invalid script shebang")
	}
	parts := strings.Fields(body[:end])
	if parts[0] != "#!lua" {
		return 0, false, "", errors.New("ERR Unexpected engine in script shebang: " + parts[0])
	}
	for _, p := range parts[1:] {
		list, ok := strings.CutPrefix(p, "flags=")
		if !ok {
			return 0, false, "", errors.New("ERR Unknown lua shebang option: " + p)
		}
		if list == "" {
			continue
		}
		for name := range strings.SplitSeq(list, ",") {
			f, ok := ParseFlag(name)
			if !ok {
				return 0, false, "", errors.New("ERR Unexpected flag in script shebang: " + name)
			}
			flags |= f
		}
	}
	return flags, true, body[end:], nil
}
