// Package validate checks Insight values before anything touches a cluster: the charts'
// own values.schema.json files through Helm's validator, plus the rules that span several
// keys, which a JSON schema cannot state — taken from the charts' own validateValues
// templates, so the CLI and plain helm refuse the same values. Every problem is reported at once, each naming
// the key, the value given and what is allowed.
//
// It must not depend on a Kubernetes client or on the CLI's commands.
package validate

import (
	"fmt"
	"regexp"
	"sort"
	"strings"

	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/engine"

	"github.com/insightgrid/insight/charts"
	"github.com/insightgrid/insight/cli/exit"
)

// Problem is one thing wrong with the input.
type Problem struct {
	// Key is the dotted values key (pu.partitions) or the flag (--anti-affinity) at fault.
	Key string `json:"key"`
	// Value is the value given; nil when the key is missing.
	Value any `json:"value,omitempty"`
	// Message says what is wrong and what is allowed.
	Message string `json:"message"`
}

func (p Problem) String() string {
	if strings.HasPrefix(p.Message, p.Key) {
		return p.Message
	}
	if p.Value == nil {
		return fmt.Sprintf("%s: %s", p.Key, p.Message)
	}
	return fmt.Sprintf("%s: %s (given: %v)", p.Key, p.Message, p.Value)
}

// Error is bad input: one or more problems, reported together.
type Error struct {
	Problems []Problem
}

// ExitCode is the documented exit code of this error (exit.BadInput).
func (e *Error) ExitCode() int { return exit.BadInput }

func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "invalid input (%d problem", len(e.Problems))
	if len(e.Problems) != 1 {
		b.WriteString("s")
	}
	b.WriteString("):")
	for _, p := range e.Problems {
		b.WriteString("\n  - ")
		b.WriteString(p.String())
	}
	return b.String()
}

// Dedupe drops repeated problems (the umbrella's schema repeats its subcharts') and
// sorts them by key, keeping the order of a key's messages.
func Dedupe(problems []Problem) []Problem {
	seen := map[string]bool{}
	var out []Problem
	for _, p := range problems {
		id := p.Key + "\x00" + p.Message
		if !seen[id] {
			seen[id] = true
			out = append(out, p)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}

// Values checks the user-supplied values against the chart: the chart's defaults are
// coalesced with vals the way helm does before rendering, then checked against every
// chart's schema and, when those pass, the charts' own cross-field rules. ch must have had its dependencies processed
// (chartutil.ProcessDependenciesWithMerge) so that aliases and conditions are applied.
// It returns nil or an *Error.
func Values(ch *chart.Chart, vals map[string]any) error {
	full, err := chartutil.CoalesceValues(ch, vals)
	if err != nil {
		return &Error{Problems: []Problem{{Key: "values", Message: err.Error()}}}
	}
	var problems []Problem
	if err := chartutil.ValidateAgainstSchema(ch, full); err != nil {
		problems = parseSchemaErrors(err.Error(), chartPrefixes(ch), full)
	} else {
		// Values of the wrong type would only make the templates fail in noisier ways.
		problems = chartRules(ch, vals)
	}
	if len(problems) == 0 {
		return nil
	}
	return &Error{Problems: Dedupe(problems)}
}

// chartPrefixes maps each chart's name, as Helm's validator prints it, to the values path
// its values live under.
func chartPrefixes(ch *chart.Chart) map[string]string {
	out := map[string]string{}
	var walk func(c *chart.Chart, prefix string)
	walk = func(c *chart.Chart, prefix string) {
		if _, ok := out[c.Name()]; !ok {
			out[c.Name()] = prefix
		}
		for _, d := range c.Dependencies() {
			walk(d, join(prefix, d.Name()))
		}
	}
	walk(ch, "")
	return out
}

var (
	sectionRe = regexp.MustCompile(`^([A-Za-z0-9._-]+):$`)
	entryRe   = regexp.MustCompile(`^(\s*)- at '([^']*)': (.*)$`)
)

// parseSchemaErrors turns Helm's schema report (a "chart:" line, then indented
// "- at '/json/pointer': message" lines per chart) into problems with dotted keys. Entries
// that only wrap deeper ones ("validation failed") are dropped in favour of their children.
func parseSchemaErrors(report string, prefixes map[string]string, full map[string]any) []Problem {
	type entry struct {
		indent  int
		key     string
		message string
	}
	var entries []entry
	prefix := ""
	for _, line := range strings.Split(report, "\n") {
		if m := sectionRe.FindStringSubmatch(line); m != nil {
			prefix = prefixes[m[1]]
			continue
		}
		m := entryRe.FindStringSubmatch(line)
		if m == nil {
			if strings.TrimSpace(line) != "" {
				entries = append(entries, entry{key: orValues(prefix), message: strings.TrimSpace(line)})
			}
			continue
		}
		entries = append(entries, entry{indent: len(m[1]), key: join(prefix, pointerToKey(m[2])), message: m[3]})
	}
	var out []Problem
	for i, e := range entries {
		if i+1 < len(entries) && entries[i+1].indent > e.indent {
			continue
		}
		v, _ := Lookup(full, e.key)
		if _, isMap := v.(map[string]any); isMap {
			v = nil
		}
		out = append(out, Problem{Key: orValues(e.key), Value: v, Message: e.message})
	}
	return out
}

func pointerToKey(p string) string {
	p = strings.TrimPrefix(p, "/")
	parts := strings.Split(p, "/")
	for i, s := range parts {
		parts[i] = strings.NewReplacer("~1", "/", "~0", "~").Replace(s)
	}
	return strings.Join(parts, ".")
}

func join(prefix, key string) string {
	switch {
	case prefix == "":
		return key
	case key == "":
		return prefix
	}
	return prefix + "." + key
}

func orValues(key string) string {
	if key == "" {
		return "(values)"
	}
	return key
}

// Lookup returns the value at a dotted key of a nested values map.
func Lookup(vals map[string]any, key string) (any, bool) {
	var cur any = vals
	for _, part := range strings.Split(key, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		cur, ok = m[part]
		if !ok {
			return nil, false
		}
	}
	return cur, true
}

// rulesMarker starts the message of the charts' validateValues fail (insight-common).
const rulesMarker = "VALUES VALIDATION:"

var ruleKeyRe = regexp.MustCompile(`^([A-Za-z0-9_.\[\]-]+)(=|:| is )`)

// chartRules renders the chart the way `helm template` would and collects the messages of
// its validateValues fail: the cross-field rules, stated once in the charts, so plain
// helm and the CLI refuse the same values with the same words.
func chartRules(ch *chart.Chart, vals map[string]any) []Problem {
	// The values are checked, not the cluster: the add-ons' CRDs count as served here, and
	// the render against the cluster (or --api-versions offline) checks them.
	caps := chartutil.DefaultCapabilities.Copy()
	caps.APIVersions = append(caps.APIVersions, charts.AddOnAPIs()...)
	rv, err := chartutil.ToRenderValues(ch, vals, chartutil.ReleaseOptions{Name: "insight", Namespace: "default", IsInstall: true}, caps)
	if err != nil {
		return []Problem{{Key: "(values)", Message: err.Error()}}
	}
	_, err = engine.Render(ch, rv)
	if err == nil {
		return nil
	}
	msg := err.Error()
	i := strings.Index(msg, rulesMarker)
	if i < 0 {
		return []Problem{{Key: "(chart)", Message: "cannot render with these values: " + msg}}
	}
	var out []Problem
	for _, line := range strings.Split(msg[i+len(rulesMarker):], "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		key := "(values)"
		if m := ruleKeyRe.FindStringSubmatch(line); m != nil {
			key = m[1]
		}
		out = append(out, Problem{Key: key, Message: line})
	}
	return out
}
