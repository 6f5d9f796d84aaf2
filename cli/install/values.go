package install

import (
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/strvals"
	"k8s.io/apimachinery/pkg/api/resource"
	"sigs.k8s.io/yaml"

	"github.com/insightgrid/insight/cli/validate"
	"github.com/insightgrid/insight/values"
)

// AntiAffinity values accepted by --anti-affinity, mapped to the topology key the chart
// spreads a partition's primary and backup over ("" switches anti-affinity off).
var AntiAffinity = map[string]string{
	"zone":     "topology.kubernetes.io/zone",
	"hostname": "kubernetes.io/hostname",
	"none":     "",
}

// AntiAffinityNames are the accepted --anti-affinity values, in the order help shows them.
var AntiAffinityNames = []string{"zone", "hostname", "none"}

// coreComponents are the umbrella's dependencies that are not add-ons.
var coreComponents = map[string]bool{"manager": true, "pu": true, "insight-common": true}

// AddOns returns the add-ons the chart offers for --enable: the umbrella's dependencies
// switched by a "<name>.enabled" condition, other than the grid itself.
func AddOns(ch *chart.Chart) []string {
	var out []string
	for _, d := range ch.Metadata.Dependencies {
		name := d.Name
		if d.Alias != "" {
			name = d.Alias
		}
		if coreComponents[name] || d.Condition != name+".enabled" {
			continue
		}
		out = append(out, name)
	}
	sort.Strings(out)
	return out
}

// UserValues composes the user-supplied values in the order the user expects the last
// word to win: base (the release's previous values on upgrade) < profile < friendly flags
// < -f files in order < --set < --set-string. Every problem is collected rather than
// stopping at the first, and returned as a *validate.Error.
func (p *Parameters) UserValues(ch *chart.Chart, base map[string]any, stdin io.Reader) (map[string]any, error) {
	var problems []validate.Problem
	vals := copyMap(base)

	if p.Profile != "" {
		prof, err := values.Load(p.Profile)
		if err != nil {
			problems = append(problems, validate.Problem{Key: "--profile", Value: p.Profile,
				Message: "unknown profile; one of " + strings.Join(values.Names(), ", ")})
		} else {
			vals = Merge(vals, prof)
		}
	}

	friendly, fp := p.friendlyValues(ch)
	problems = append(problems, fp...)
	vals = Merge(vals, friendly)

	for _, f := range p.ValueFiles {
		data, err := readValuesFile(f, stdin)
		if err != nil {
			problems = append(problems, validate.Problem{Key: "--values", Value: f, Message: err.Error()})
			continue
		}
		m := map[string]any{}
		if err := yaml.Unmarshal(data, &m); err != nil {
			problems = append(problems, validate.Problem{Key: "--values", Value: f, Message: "not a YAML map: " + err.Error()})
			continue
		}
		vals = Merge(vals, m)
	}
	for _, s := range p.Set {
		if err := strvals.ParseInto(s, vals); err != nil {
			problems = append(problems, validate.Problem{Key: "--set", Value: s, Message: err.Error() + "; expected key=value[,key=value]"})
		}
	}
	for _, s := range p.SetString {
		if err := strvals.ParseIntoString(s, vals); err != nil {
			problems = append(problems, validate.Problem{Key: "--set-string", Value: s, Message: err.Error() + "; expected key=value[,key=value]"})
		}
	}
	if len(problems) > 0 {
		return vals, &validate.Error{Problems: problems}
	}
	return vals, nil
}

// friendlyValues maps --partitions, --ha, --manager-ha, --anti-affinity, --memory and --enable onto
// the chart's keys.
func (p *Parameters) friendlyValues(ch *chart.Chart) (map[string]any, []validate.Problem) {
	var problems []validate.Problem
	out := map[string]any{}
	pu := map[string]any{}
	if p.Partitions != nil {
		if *p.Partitions < 1 {
			problems = append(problems, validate.Problem{Key: "--partitions", Value: *p.Partitions, Message: "must be at least 1"})
		} else {
			pu["partitions"] = *p.Partitions
		}
	}
	if p.HA != nil {
		pu["ha"] = *p.HA
	}
	if p.AntiAffinity != "" {
		topo, ok := AntiAffinity[p.AntiAffinity]
		switch {
		case !ok:
			problems = append(problems, validate.Problem{Key: "--anti-affinity", Value: p.AntiAffinity,
				Message: "must be one of " + strings.Join(AntiAffinityNames, ", ")})
		case topo == "":
			pu["antiAffinity"] = map[string]any{"enabled": false}
		default:
			pu["antiAffinity"] = map[string]any{"enabled": true, "topology": topo}
		}
	}
	// Request equals limit: the grid sizes itself from the memory limit (GOMEMLIMIT), and a
	// request below it would let the scheduler overcommit the node it relies on.
	requests, limits := map[string]any{}, map[string]any{}
	if p.Memory != "" {
		if prob, ok := CheckQuantity("--memory", p.Memory); !ok {
			problems = append(problems, prob)
		} else {
			requests["memory"], limits["memory"] = p.Memory, p.Memory
		}
	}
	if p.CPU != "" {
		if prob, ok := CheckQuantity("--cpu", p.CPU); !ok {
			problems = append(problems, prob)
		} else {
			requests["cpu"], limits["cpu"] = p.CPU, p.CPU
		}
	}
	if len(requests) > 0 {
		pu["resources"] = map[string]any{"requests": requests, "limits": limits}
	}
	if len(pu) > 0 {
		out["pu"] = pu
	}
	if p.ManagerHA != nil {
		out["manager"] = map[string]any{"ha": *p.ManagerHA}
	}
	if len(p.Enable) > 0 {
		offered := AddOns(ch)
		for _, name := range p.Enable {
			key, ok := matchAddOn(name, offered)
			if !ok {
				allowed := "none in this chart"
				if len(offered) > 0 {
					allowed = "one of " + strings.Join(offered, ", ")
				}
				problems = append(problems, validate.Problem{Key: "--enable", Value: name, Message: "unknown add-on; " + allowed})
				continue
			}
			out[key] = map[string]any{"enabled": true}
		}
	}
	return out, problems
}

// CheckQuantity checks the value of --memory or --cpu: a positive Kubernetes quantity.
func CheckQuantity(flag, v string) (validate.Problem, bool) {
	if q, err := resource.ParseQuantity(v); err == nil && q.Sign() > 0 {
		return validate.Problem{}, true
	}
	msg := "not a memory quantity; use e.g. 512Mi or 2Gi"
	if flag == "--cpu" {
		msg = "not a CPU quantity; use e.g. 500m or 2"
	}
	return validate.Problem{Key: flag, Value: v, Message: msg}, false
}

// matchAddOn accepts the values key (wanGateway) or its dashed spelling (wan-gateway).
func matchAddOn(name string, offered []string) (string, bool) {
	norm := func(s string) string { return strings.ToLower(strings.ReplaceAll(strings.TrimSpace(s), "-", "")) }
	for _, o := range offered {
		if norm(o) == norm(name) {
			return o, true
		}
	}
	return "", false
}

func readValuesFile(name string, stdin io.Reader) ([]byte, error) {
	if strings.TrimSpace(name) == "-" {
		if stdin == nil {
			return nil, fmt.Errorf("no standard input to read values from")
		}
		return io.ReadAll(stdin)
	}
	data, err := os.ReadFile(name)
	if err != nil {
		return nil, fmt.Errorf("cannot read: %w", err)
	}
	return data, nil
}

// Merge returns a new map with b merged over a, recursing into maps (helm's -f semantics).
func Merge(a, b map[string]any) map[string]any {
	out := make(map[string]any, len(a)+len(b))
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		if bm, ok := v.(map[string]any); ok {
			if am, ok := out[k].(map[string]any); ok {
				out[k] = Merge(am, bm)
				continue
			}
			out[k] = copyMap(bm)
			continue
		}
		out[k] = v
	}
	return out
}

func copyMap(m map[string]any) map[string]any {
	return Merge(map[string]any{}, m)
}
