// Package values provides the curated value profiles (values/*.yaml) for the umbrella
// chart, embedded so the CLI's --profile works without a checkout. The same files are
// used with plain helm as `-f values/<name>.yaml`. It must not depend on the CLI.
package values

import (
	"embed"
	"fmt"
	"io/fs"
	"sort"
	"strings"

	"sigs.k8s.io/yaml"
)

//go:embed *.yaml
var profiles embed.FS

const ext = ".yaml"

// Names returns the profile names, sorted.
func Names() []string {
	entries, err := fs.ReadDir(profiles, ".")
	if err != nil {
		// The embedded root always exists; reaching this is a build defect.
		panic(fmt.Sprintf("read embedded profiles: %v", err))
	}
	var names []string
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ext) {
			names = append(names, strings.TrimSuffix(e.Name(), ext))
		}
	}
	sort.Strings(names)
	return names
}

// Load returns the values of the named profile.
func Load(name string) (map[string]any, error) {
	data, err := Raw(name)
	if err != nil {
		return nil, err
	}
	vals := map[string]any{}
	if err := yaml.Unmarshal(data, &vals); err != nil {
		return nil, fmt.Errorf("profile %q: %w", name, err)
	}
	return vals, nil
}

// Raw returns the profile file as written, comments included.
func Raw(name string) ([]byte, error) {
	if name == "" || strings.ContainsAny(name, "/\\.") {
		return nil, fmt.Errorf("profile %q: not a profile name; one of %s", name, strings.Join(Names(), ", "))
	}
	data, err := profiles.ReadFile(name + ext)
	if err != nil {
		return nil, fmt.Errorf("profile %q: unknown; one of %s", name, strings.Join(Names(), ", "))
	}
	return data, nil
}
