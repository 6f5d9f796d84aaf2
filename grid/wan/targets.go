package wan

import (
	"fmt"
	"net"
	"strings"
)

// TargetFlags names the flags that describe a gateway's target sites, as the user types
// them, for the errors: the site's own name, the repeatable NAME=HOST:PORT, NAME=FILE of
// the site's CA and of its operator token, and NAME=HOST of the name its certificate is
// checked for ("" where the command has no such flag).
type TargetFlags struct {
	Site, Target, CA, TokenFile, ServerName string
}

// ParseTargets builds the targets from the repeated flag values: addrs NAME=HOST:PORT,
// cas and tokens NAME=FILE, serverNames NAME=HOST; each NAME=... but the address must
// name a site an address names.
func ParseTargets(f TargetFlags, addrs, cas, tokens, serverNames []string) ([]GatewayTarget, error) {
	var out []GatewayTarget
	idx := map[string]int{}
	for _, a := range addrs {
		name, addr, ok := strings.Cut(a, "=")
		if !ok || name == "" || addr == "" {
			return nil, fmt.Errorf("%s %q: want NAME=HOST:PORT", f.Target, a)
		}
		idx[name] = len(out)
		out = append(out, GatewayTarget{Name: name, Address: addr})
	}
	for _, o := range []struct {
		flag, want string
		vals       []string
		set        func(t *GatewayTarget, v string)
	}{
		{f.CA, "FILE", cas, func(t *GatewayTarget, v string) { t.CAFile = v }},
		{f.TokenFile, "FILE", tokens, func(t *GatewayTarget, v string) { t.TokenFile = v }},
		{f.ServerName, "HOST", serverNames, func(t *GatewayTarget, v string) { t.ServerName = v }},
	} {
		for _, v := range o.vals {
			name, val, ok := strings.Cut(v, "=")
			if !ok || val == "" {
				return nil, fmt.Errorf("%s %q: want NAME=%s", o.flag, v, o.want)
			}
			i, known := idx[name]
			if !known {
				return nil, fmt.Errorf("%s %s: no %s %s=HOST:PORT names that site", o.flag, name, f.Target, name)
			}
			o.set(&out[i], val)
		}
	}
	return out, nil
}

// CheckTargets checks the targets of site: valid names, none the site itself nor given
// twice, HOST:PORT addresses, and each with its CA and token file unless insecure (plain
// HTTP without a token, which refuses them).
func CheckTargets(f TargetFlags, site string, ts []GatewayTarget, insecure bool) []error {
	var errs []error
	seen := map[string]bool{}
	for _, t := range ts {
		if err := CheckSite(t.Name); err != nil {
			errs = append(errs, fmt.Errorf("%s %w", f.Target, err))
		}
		if t.Name == site {
			errs = append(errs, fmt.Errorf("%s %s: that is this site (%s)", f.Target, t.Name, f.Site))
		}
		if seen[t.Name] {
			errs = append(errs, fmt.Errorf("%s %s given twice", f.Target, t.Name))
		}
		seen[t.Name] = true
		if _, _, err := net.SplitHostPort(t.Address); err != nil {
			errs = append(errs, fmt.Errorf("%s %s=%q: want NAME=HOST:PORT, the site's gateway", f.Target, t.Name, t.Address))
		}
		if !insecure && (t.CAFile == "" || t.TokenFile == "") {
			errs = append(errs, fmt.Errorf("%s %s: give %s %s=FILE and %s %s=FILE (the site's CA and operator token), or run both sites with --insecure", f.Target, t.Name, f.CA, t.Name, f.TokenFile, t.Name))
		}
		if insecure && (t.CAFile != "" || t.TokenFile != "" || t.ServerName != "") {
			errs = append(errs, fmt.Errorf("%s %s: --insecure sends in plain without a token; drop its %s and %s", f.Target, t.Name, f.CA, f.TokenFile))
		}
	}
	return errs
}
