package values_test

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/chartutil"

	"github.com/insightgrid/insight/values"
)

func TestNames(t *testing.T) {
	got := values.Names()
	for _, want := range []string{"dev", "ha", "production"} {
		found := false
		for _, n := range got {
			found = found || n == want
		}
		if !found {
			t.Errorf("Names() = %v, lacks %q", got, want)
		}
	}
	files, err := filepath.Glob("*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != len(got) {
		t.Errorf("Names() = %v, but the directory holds %v", got, files)
	}
}

// TestLoadMatchesHelm checks that a profile loads exactly as `helm -f values/<name>.yaml`
// reads it.
func TestLoadMatchesHelm(t *testing.T) {
	for _, name := range values.Names() {
		t.Run(name, func(t *testing.T) {
			got, err := values.Load(name)
			if err != nil {
				t.Fatal(err)
			}
			want, err := chartutil.ReadValuesFile(name + ".yaml")
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want.AsMap()) {
				t.Errorf("Load(%q) = %v, helm reads %v", name, got, want)
			}
			raw, err := values.Raw(name)
			if err != nil {
				t.Fatal(err)
			}
			onDisk, err := os.ReadFile(name + ".yaml")
			if err != nil {
				t.Fatal(err)
			}
			if string(raw) != string(onDisk) {
				t.Errorf("Raw(%q) differs from the file", name)
			}
		})
	}
}

func TestLoadUnknown(t *testing.T) {
	for _, name := range []string{"nope", "", "../go", "dev.yaml"} {
		_, err := values.Load(name)
		if err == nil {
			t.Errorf("Load(%q) succeeded", name)
			continue
		}
		if !strings.Contains(err.Error(), "dev, ha, production") {
			t.Errorf("Load(%q): %v, want the list of profiles", name, err)
		}
	}
}
