package install

import (
	"encoding/json"
	"fmt"

	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chartutil"

	"github.com/insightgrid/insight/cli/validate"
)

// Shape is what the day-2 commands need to know of a release's grid: how many partitions,
// whether each has a backup, whether the manager fails back by itself, and the data pods'
// resources.
type Shape struct {
	Partitions int
	HA         bool
	// Managers is the number of managers (manager.ha: 3, else 1; 0 with
	// manager.enabled=false).
	Managers     int
	AutoFailback bool
	// Requests and Limits are pu.resources.requests/limits ("memory", "cpu").
	Requests map[string]string
	Limits   map[string]string
}

// ShapeOf reads the shape from coalesced values (the chart's defaults under the user's).
func ShapeOf(full map[string]any) Shape {
	get := func(key string) any { v, _ := validate.Lookup(full, key); return v }
	s := Shape{
		Partitions:   intOr(get("pu.partitions"), 1),
		HA:           get("pu.ha") == true,
		Managers:     1,
		AutoFailback: get("manager.autoFailback") != false,
		Requests:     quantities(get("pu.resources.requests")),
		Limits:       quantities(get("pu.resources.limits")),
	}
	if get("pu.enabled") == false {
		s.Partitions = 0
	}
	switch {
	case get("manager.enabled") == false:
		s.Managers = 0
	case get("manager.ha") == true:
		s.Managers = 3
	}
	return s
}

// ReleaseShape is the shape of a deployed release: its user-supplied values over its
// chart's defaults. The chart a release stores carries the umbrella's values, where
// pu.partitions and pu.ha have their defaults.
func ReleaseShape(ch *chart.Chart, config map[string]any) (Shape, error) {
	if ch == nil {
		return ShapeOf(config), nil
	}
	full, err := chartutil.CoalesceValues(ch, config)
	if err != nil {
		return Shape{}, fmt.Errorf("coalesce the release's values: %w", err)
	}
	return ShapeOf(full), nil
}

func quantities(v any) map[string]string {
	out := map[string]string{}
	m, ok := v.(map[string]any)
	if !ok {
		return out
	}
	for k, q := range m {
		out[k] = fmt.Sprint(q)
	}
	return out
}

// SameValues reports whether two sets of user-supplied values are the same once encoded,
// so that 2 and 2.0 (a release's values come back from storage as JSON) compare equal.
func SameValues(a, b map[string]any) bool {
	if a == nil {
		a = map[string]any{}
	}
	if b == nil {
		b = map[string]any{}
	}
	ja, errA := json.Marshal(a)
	jb, errB := json.Marshal(b)
	return errA == nil && errB == nil && string(ja) == string(jb)
}

// PartitionsMaximum is the highest pu.partitions the chart's schema allows (0: it states
// none).
func PartitionsMaximum(ch *chart.Chart) (int, error) {
	var schema struct {
		Properties struct {
			PU struct {
				Properties struct {
					Partitions struct {
						Maximum *float64 `json:"maximum"`
					} `json:"partitions"`
				} `json:"properties"`
			} `json:"pu"`
		} `json:"properties"`
	}
	if len(ch.Schema) == 0 {
		return 0, nil
	}
	if err := json.Unmarshal(ch.Schema, &schema); err != nil {
		return 0, fmt.Errorf("read the schema of chart %s: %w", ch.Name(), err)
	}
	if m := schema.Properties.PU.Properties.Partitions.Maximum; m != nil {
		return int(*m), nil
	}
	return 0, nil
}
