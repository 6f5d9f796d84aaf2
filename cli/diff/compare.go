package diff

import (
	"fmt"
	"reflect"
	"sort"
	"strings"

	"github.com/pmezard/go-difflib/difflib"
	"helm.sh/helm/v3/pkg/releaseutil"
	"sigs.k8s.io/yaml"
)

// What happens to an object.
const (
	Added   = "added"
	Removed = "removed"
	Changed = "changed"
)

// Change is one object that differs between two manifests.
type Change struct {
	Kind       string `json:"kind"`
	APIVersion string `json:"apiVersion"`
	Namespace  string `json:"namespace"`
	Name       string `json:"name"`
	// Change is added, removed or changed.
	Change string `json:"change"`
	// Diff is the unified diff of the object's YAML, the values of a Secret masked.
	Diff string `json:"diff"`
}

// Header names the object as helm-diff does: "ns, name, Kind (group)".
func (c Change) Header() string {
	kind := c.Kind
	if g := group(c.APIVersion); g != "" {
		kind += " (" + g + ")"
	}
	return fmt.Sprintf("%s, %s, %s", c.Namespace, c.Name, kind)
}

// Labels name the two sides in the diffs' ---/+++ lines.
type Labels struct{ From, To string }

// contextLines is how many unchanged lines surround each change.
const contextLines = 3

// object is one document of a manifest.
type object struct {
	kind, apiVersion, namespace, name string
	content                           map[string]any
}

// key identifies an object across the two manifests: its namespace, name, kind and API
// group (a new version of the same group is the same object, changed).
func (o *object) key() string {
	return o.namespace + "\x00" + o.name + "\x00" + o.kind + "\x00" + group(o.apiVersion)
}

// group is the API group of apiVersion ("" for the core group).
func group(apiVersion string) string {
	if i := strings.Index(apiVersion, "/"); i >= 0 {
		return apiVersion[:i]
	}
	return ""
}

// Compare lists the objects that differ between the manifests before and after, in the
// order of their headers. Objects without a namespace are taken to be in namespace (the
// release's, where Helm creates them). Secrets' data and stringData values are masked on
// both sides: a diff shows which keys change, never a value.
func Compare(before, after, namespace string, l Labels) ([]Change, error) {
	a, err := parse(before, namespace)
	if err != nil {
		return nil, fmt.Errorf("the deployed manifest: %w", err)
	}
	b, err := parse(after, namespace)
	if err != nil {
		return nil, fmt.Errorf("the new manifest: %w", err)
	}
	var changes []Change
	for _, k := range keys(a, b) {
		oa, ob := a[k], b[k]
		if oa != nil && ob != nil && reflect.DeepEqual(oa.content, ob.content) {
			continue
		}
		if isSecret(oa) || isSecret(ob) {
			mask(oa, ob)
		}
		ya, err := text(oa)
		if err != nil {
			return nil, err
		}
		yb, err := text(ob)
		if err != nil {
			return nil, err
		}
		c := Change{Change: Changed}
		o := ob
		switch {
		case oa == nil:
			c.Change = Added
		case ob == nil:
			c.Change, o = Removed, oa
		}
		c.Kind, c.APIVersion, c.Namespace, c.Name = o.kind, o.apiVersion, o.namespace, o.name
		c.Diff, err = difflib.GetUnifiedDiffString(difflib.UnifiedDiff{
			A: lines(ya), B: lines(yb), FromFile: l.From, ToFile: l.To, Context: contextLines,
		})
		if err != nil {
			return nil, fmt.Errorf("diff %s: %w", c.Header(), err)
		}
		changes = append(changes, c)
	}
	sort.SliceStable(changes, func(i, j int) bool { return changes[i].Header() < changes[j].Header() })
	return changes, nil
}

// parse splits a release manifest into its objects, by key.
func parse(manifest, namespace string) (map[string]*object, error) {
	out := map[string]*object{}
	for name, doc := range releaseutil.SplitManifests(manifest) {
		var m map[string]any
		if err := yaml.Unmarshal([]byte(doc), &m); err != nil {
			return nil, fmt.Errorf("%s is not YAML: %w", name, err)
		}
		if len(m) == 0 {
			continue // a template that rendered nothing
		}
		o := &object{content: m, namespace: namespace}
		o.kind, _ = m["kind"].(string)
		o.apiVersion, _ = m["apiVersion"].(string)
		if md, ok := m["metadata"].(map[string]any); ok {
			o.name, _ = md["name"].(string)
			if ns, _ := md["namespace"].(string); ns != "" {
				o.namespace = ns
			}
		}
		out[o.key()] = o
	}
	return out, nil
}

// keys are the keys of both maps, sorted and without repeats.
func keys(a, b map[string]*object) []string {
	var out []string
	for k := range a {
		out = append(out, k)
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

func isSecret(o *object) bool { return o != nil && o.kind == "Secret" && group(o.apiVersion) == "" }

// Masks of a Secret's values: the same on both sides, or which side's value it was.
const (
	maskSame   = "***"
	maskBefore = "*** (before)"
	maskAfter  = "*** (after)"
)

// mask replaces the values of the Secrets' data and stringData (either may be nil): a key
// whose value is the same on both sides shows as maskSame there, a changed one as
// maskBefore and maskAfter, so the diff shows that it changed and nothing of the value.
func mask(a, b *object) {
	for _, field := range []string{"data", "stringData"} {
		da, db := values(a, field), values(b, field)
		for k, v := range da {
			if w, ok := db[k]; ok && reflect.DeepEqual(v, w) {
				da[k], db[k] = maskSame, maskSame
				continue
			}
			da[k] = maskBefore
		}
		for k, v := range db {
			if v != maskSame {
				db[k] = maskAfter
			}
		}
	}
}

// values is the map o holds under field; nil when o or the field is absent.
func values(o *object, field string) map[string]any {
	if o == nil {
		return nil
	}
	m, _ := o.content[field].(map[string]any)
	return m
}

// text is the object's YAML, its keys sorted; "" for an absent object.
func text(o *object) (string, error) {
	if o == nil {
		return "", nil
	}
	b, err := yaml.Marshal(o.content)
	if err != nil {
		return "", fmt.Errorf("encode %s %s: %w", o.kind, o.name, err)
	}
	return string(b), nil
}

// lines splits s after each newline, with no empty last line.
func lines(s string) []string {
	if s == "" {
		return nil
	}
	l := strings.SplitAfter(s, "\n")
	if l[len(l)-1] == "" {
		l = l[:len(l)-1]
	}
	return l
}
