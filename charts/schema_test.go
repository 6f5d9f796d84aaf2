package charts_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"helm.sh/helm/v3/pkg/chartutil"

	"github.com/insightgrid/insight/charts"
)

// subcharts maps the umbrella's value keys to the charts behind them.
var subcharts = map[string]string{"manager": charts.Manager, "pu": charts.PU, "sql": charts.SQL, "wanGateway": charts.WANGateway, "spark": charts.Spark, "zeppelin": charts.Zeppelin, "prometheus": charts.Prometheus, "istio": charts.Istio}

func readJSON(t *testing.T, path string) map[string]any {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return m
}

// TestUmbrellaSchemaEmbedsSubcharts keeps the umbrella's subchart sections equal to
// the subcharts' schemas. Helm checks both, and only the umbrella's errors name the key
// as the user wrote it (/pu/partitions rather than /partitions). -update copies them over.
func TestUmbrellaSchemaEmbedsSubcharts(t *testing.T) {
	umbrellaPath := filepath.Join(charts.Umbrella, "values.schema.json")
	umbrella := readJSON(t, umbrellaPath)
	props := umbrella["properties"].(map[string]any)
	for key, chart := range subcharts {
		sub := readJSON(t, filepath.Join(chart, "values.schema.json"))
		delete(sub, "$schema")
		delete(sub, "title")
		sub["description"] = fmt.Sprintf("The %s subchart (charts/%s/values.schema.json)", chart, chart)
		if !reflect.DeepEqual(props["global"], sub["properties"].(map[string]any)["global"]) {
			t.Errorf("global differs between the umbrella's and %s's schema", chart)
		}
		if reflect.DeepEqual(props[key], sub) {
			continue
		}
		if !*update {
			t.Errorf("%s: properties.%s differs from charts/%s/values.schema.json (run go test ./charts -update)", umbrellaPath, key, chart)
		}
		props[key] = sub
	}
	if *update {
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false)
		if err := enc.Encode(umbrella); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(umbrellaPath, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestUmbrellaDefaultsMatchSubcharts checks that the keys the umbrella's values.yaml
// repeats for visibility carry the subcharts' defaults, so `helm show values` is true.
func TestUmbrellaDefaultsMatchSubcharts(t *testing.T) {
	umbrella, err := chartutil.ReadValuesFile(filepath.Join(charts.Umbrella, "values.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for key, chart := range subcharts {
		sub, err := chartutil.ReadValuesFile(filepath.Join(chart, "values.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(umbrella["global"], sub["global"]) {
			t.Errorf("global defaults differ between the umbrella and %s", chart)
		}
		section := umbrella[key].(map[string]any)
		compareDefaults(t, key, section, sub)
	}
}

func compareDefaults(t *testing.T, path string, umbrella, sub map[string]any) {
	t.Helper()
	for k, v := range umbrella {
		if _, ok := subcharts[path]; ok {
			if k == "enabled" {
				continue
			}
		}
		key := path + "." + k
		sv, ok := sub[k]
		if !ok {
			t.Errorf("%s is not a key of the subchart", key)
			continue
		}
		if m, ok := v.(map[string]any); ok {
			sm, ok := sv.(map[string]any)
			if !ok {
				t.Errorf("%s is a map in the umbrella, not in the subchart", key)
				continue
			}
			compareDefaults(t, key, m, sm)
			continue
		}
		if !reflect.DeepEqual(v, sv) {
			t.Errorf("%s defaults to %v in the umbrella and %v in the subchart", key, v, sv)
		}
	}
}
