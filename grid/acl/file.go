package acl

import (
	"bufio"
	"bytes"
	"fmt"
	"strings"
)

// FileUser is one user of an ACL file: "user <name> <rules...>".
type FileUser struct {
	Name  string
	Rules []string
}

// ParseFile reads an ACL file in Redis's format, one "user <name> <rules...>" line per
// user (blank lines and lines starting with # are skipped, which Redis does not allow), checking every user's
// rules against cat. Errors name the file (as given in path) and the line. The default
// user may not be given: it is --requirepass's.
func ParseFile(path string, data []byte, cat *Catalog) ([]FileUser, error) {
	var out []FileUser
	seen := map[string]bool{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(line)
		fail := func(format string, a ...any) error {
			return fmt.Errorf("%s:%d: %s", path, n, fmt.Sprintf(format, a...))
		}
		switch {
		case f[0] != "user" || len(f) < 2:
			return nil, fail("line should start with user keyword, as in 'user alice on >password ~keys:* +@read'")
		case f[1] == DefaultUser:
			return nil, fail("the 'default' user cannot be given in the ACL file: its password is --requirepass (the chart's global.auth)")
		case seen[f[1]]:
			return nil, fail("duplicate user '%s' found", f[1])
		}
		seen[f[1]] = true
		if _, err := NewUser(f[1], cat).With(f[2:]...); err != nil {
			return nil, fail("%v", err)
		}
		out = append(out, FileUser{Name: f[1], Rules: f[2:]})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading ACL file %s: %w", path, err)
	}
	return out, nil
}
