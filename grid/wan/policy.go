package wan

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/insightgrid/insight/grid/store"
)

// PolicyKind is how conflicting writes of a key at two sites are resolved.
type PolicyKind uint8

// The conflict policies.
const (
	// PolicyLWW keeps the write with the greater (HLC, site): last-writer-wins.
	PolicyLWW PolicyKind = iota
	// PolicyPriority keeps the write of the higher-ranked site whatever the timestamps;
	// last-writer-wins among writes of sites of one rank.
	PolicyPriority
	// PolicyCounter makes INCRBY and its kin converge to the sum of every site's
	// increments: a PN-counter of per-site totals.
	PolicyCounter
	// PolicyAddWins merges sets by observed-remove: a member added at one site while
	// another removes it stays.
	PolicyAddWins
	// PolicyLua calls a user function (FUNCTION LOAD) with both versions.
	PolicyLua
)

var policyNames = [...]string{PolicyLWW: "lww", PolicyPriority: "priority", PolicyCounter: "pn-counter", PolicyAddWins: "add-wins", PolicyLua: "lua"}

func (k PolicyKind) String() string { return policyNames[k] }

// Policy is a conflict policy with its parameters.
type Policy struct {
	Kind     PolicyKind
	Ranks    map[string]int // priority: a site's rank, higher wins; a site not listed is 0
	Function string         // lua: the function's name
	spec     string         // as given, normalized
}

// String is the policy as --wan-policy takes it.
func (p Policy) String() string {
	if p.spec == "" {
		return p.Kind.String()
	}
	return p.spec
}

// rank is site's rank under a priority policy (0: not listed, the lowest).
func (p *Policy) rank(site string) int { return p.Ranks[site] }

// Rule applies a policy to the keys matching a glob pattern (KEYS's and SCAN MATCH's).
type Rule struct {
	Pattern string
	Policy  Policy
}

// policyHelp is what --wan-policy takes, for its errors.
const policyHelp = "want PATTERN=POLICY, POLICY one of lww, priority:SITE>SITE[>SITE...], pn-counter, add-wins, lua:FUNCTION"

// ParseRule parses one --wan-policy value: PATTERN=POLICY.
func ParseRule(s string) (Rule, error) {
	i := strings.LastIndexByte(s, '=')
	if i <= 0 {
		return Rule{}, fmt.Errorf("%q: %s", s, policyHelp)
	}
	pat, spec := s[:i], s[i+1:]
	p, err := parsePolicy(spec)
	if err != nil {
		return Rule{}, fmt.Errorf("%q: %w", s, err)
	}
	return Rule{Pattern: pat, Policy: p}, nil
}

func parsePolicy(spec string) (Policy, error) {
	name, arg, hasArg := strings.Cut(spec, ":")
	switch name {
	case "lww", "pn-counter", "add-wins":
		if hasArg {
			return Policy{}, fmt.Errorf("policy %s takes no argument (%q given)", name, arg)
		}
		k := map[string]PolicyKind{"lww": PolicyLWW, "pn-counter": PolicyCounter, "add-wins": PolicyAddWins}[name]
		return Policy{Kind: k}, nil
	case "priority":
		sites := strings.Split(arg, ">")
		if !hasArg || len(sites) < 1 || arg == "" {
			return Policy{}, fmt.Errorf("policy priority wants the sites highest first, priority:SITE>SITE[>SITE...]")
		}
		p := Policy{Kind: PolicyPriority, Ranks: map[string]int{}, spec: spec}
		for i, s := range sites {
			if err := CheckSite(s); err != nil {
				return Policy{}, fmt.Errorf("policy priority: site %w", err)
			}
			if _, dup := p.Ranks[s]; dup {
				return Policy{}, fmt.Errorf("policy priority names site %q twice", s)
			}
			p.Ranks[s] = len(sites) - i
		}
		return p, nil
	case "lua":
		if !hasArg || !validFunction(arg) {
			return Policy{}, fmt.Errorf("policy lua wants a function name (letters, digits, '_'), lua:FUNCTION; %q given", arg)
		}
		return Policy{Kind: PolicyLua, Function: arg, spec: spec}, nil
	}
	return Policy{}, fmt.Errorf("policy %q unknown: want lww, priority:SITE>SITE[>SITE...], pn-counter, add-wins or lua:FUNCTION", name)
}

// validFunction is Redis's rule for a function name.
func validFunction(s string) bool {
	if s == "" || len(s) > 256 {
		return false
	}
	for _, r := range s {
		if (r < 'a' || r > 'z') && (r < 'A' || r > 'Z') && (r < '0' || r > '9') && r != '_' {
			return false
		}
	}
	return true
}

// ParseRules parses every --wan-policy value, naming the flag in its error.
func ParseRules(specs []string) ([]Rule, error) {
	var rules []Rule
	for _, s := range specs {
		r, err := ParseRule(s)
		if err != nil {
			return nil, fmt.Errorf("--wan-policy %w", err)
		}
		rules = append(rules, r)
	}
	return rules, nil
}

// policyFor is the policy of the first rule whose pattern matches key, nil for
// last-writer-wins (no rule matches, or the rule says lww).
func policyFor(rules []Rule, key []byte) *Policy {
	for i := range rules {
		if store.Match([]byte(rules[i].Pattern), key) {
			if rules[i].Policy.Kind == PolicyLWW {
				return nil
			}
			return &rules[i].Policy
		}
	}
	return nil
}

// Fingerprint identifies a list of rules: every site must have the same, and a batch
// from a site whose fingerprint differs is refused. Empty for no rules.
func Fingerprint(rules []Rule) string {
	if len(rules) == 0 {
		return ""
	}
	h := sha256.New()
	for _, r := range rules {
		fmt.Fprintf(h, "%d:%s=%s\n", len(r.Pattern), r.Pattern, r.Policy)
	}
	return hex.EncodeToString(h.Sum(nil)[:8])
}

// Policies is the Fingerprint of this site's policies, which its batches carry.
func (t *Tracker) Policies() string { return t.fp }

// ErrPolicyMismatch is CheckPolicies's error.
var ErrPolicyMismatch = errors.New("the sites' conflict policies (--wan-policy) differ")

// CheckPolicies refuses a batch whose site's policies' fingerprint differs from this
// site's; the refusal is counted (Status.PolicyMismatches).
func (t *Tracker) CheckPolicies(site, fingerprint string) error {
	if fingerprint == t.fp {
		return nil
	}
	t.mismatched.Add(1)
	return fmt.Errorf("batch from site %s: %w (its fingerprint %q, this site's %q): give every site the same --wan-policy flags in the same order", site, ErrPolicyMismatch, fingerprint, t.fp)
}

// CheckRules refuses a pattern given twice (the second rule could never apply).
func CheckRules(rules []Rule) error {
	var errs []error
	seen := map[string]bool{}
	for _, r := range rules {
		if seen[r.Pattern] {
			errs = append(errs, fmt.Errorf("--wan-policy names pattern %q twice: the first would always win", r.Pattern))
		}
		seen[r.Pattern] = true
	}
	return errors.Join(errs...)
}
