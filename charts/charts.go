// Package charts provides the Insight Helm charts: the umbrella chart insight with its
// subcharts insight-manager, insight-pu, insight-sql, insight-wan-gateway, insight-spark, insight-zeppelin and the add-ons insight-prometheus and insight-istio, compiled into
// the binary so the CLI works without a chart repository or a checkout.
//
// In the checkout, each chart's charts/ directory holds relative symlinks to its
// dependencies so that plain helm loads the tree as it is. go:embed skips symlinks, so
// Load attaches the dependencies in memory instead; the result is the same tree helm
// builds from the directory. This package must not depend on the CLI or on a cluster.
package charts

import (
	"embed"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strings"

	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"

	"github.com/insightgrid/insight/templates"
)

// The charts/ directories are symlinks only, which go:embed leaves out.
//
//go:embed all:insight all:insight-manager all:insight-pu all:insight-sql all:insight-wan-gateway all:insight-spark all:insight-zeppelin all:insight-prometheus all:insight-istio
var embedded embed.FS

// Names of the charts in this suite.
const (
	Umbrella   = "insight"
	Manager    = "insight-manager"
	PU         = "insight-pu"
	SQL        = "insight-sql"
	WANGateway = "insight-wan-gateway"
	Spark      = "insight-spark"
	Zeppelin   = "insight-zeppelin"
	Prometheus = "insight-prometheus"
	Istio      = "insight-istio"
	Common     = "insight-common"
)

// OperatorAPIs are the API versions the insight-prometheus chart requires the cluster to
// serve (the Prometheus Operator's CRDs); rendering without them fails. Checking values
// alone assumes them served, as whether they are is a fact of the cluster, not of the
// values: the install, rendered against the cluster, finds out.
var OperatorAPIs = []string{"monitoring.coreos.com/v1/PodMonitor", "monitoring.coreos.com/v1/PrometheusRule"}

// IstioAPIs are the API versions the insight-istio chart requires the cluster to serve
// (Istio's CRDs), in the same way.
var IstioAPIs = []string{"security.istio.io/v1/PeerAuthentication", "security.istio.io/v1/AuthorizationPolicy", "networking.istio.io/v1/DestinationRule"}

// AddOnAPIs are the API versions of every add-on's CRDs.
func AddOnAPIs() []string { return append(slices.Clone(OperatorAPIs), IstioAPIs...) }

// Load returns the umbrella chart. With dir == "" it is the chart embedded in the binary,
// with its subcharts and the library chart attached; otherwise dir is a chart directory
// or a packaged .tgz read with Helm's loader.
func Load(dir string) (*chart.Chart, error) {
	if dir != "" {
		c, err := loader.Load(dir)
		if err != nil {
			return nil, fmt.Errorf("load chart %s: %w", dir, err)
		}
		return c, nil
	}
	return loadEmbedded()
}

func loadEmbedded() (*chart.Chart, error) {
	load := func(fsys fs.FS, dir string) (*chart.Chart, error) {
		c, err := loadFS(fsys, dir)
		if err != nil {
			return nil, fmt.Errorf("load embedded chart %s: %w", dir, err)
		}
		return c, nil
	}
	// Each chart gets its own copy of the library, as helm gives it from the directories.
	common := func() (*chart.Chart, error) { return load(templates.Common, templates.CommonDir) }

	umbrella, err := load(embedded, Umbrella)
	if err != nil {
		return nil, err
	}
	for _, name := range []string{Manager, PU, SQL, WANGateway, Spark, Zeppelin, Prometheus, Istio} {
		sub, err := load(embedded, name)
		if err != nil {
			return nil, err
		}
		lib, err := common()
		if err != nil {
			return nil, err
		}
		sub.AddDependency(lib)
		umbrella.AddDependency(sub)
	}
	lib, err := common()
	if err != nil {
		return nil, err
	}
	umbrella.AddDependency(lib)
	return umbrella, nil
}

// loadFS reads the chart in directory dir of fsys the way loader.LoadDir reads a
// directory, minus .helmignore: the embedded trees hold nothing to ignore.
func loadFS(fsys fs.FS, dir string) (*chart.Chart, error) {
	var files []*loader.BufferedFile
	err := fs.WalkDir(fsys, dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		data, err := fs.ReadFile(fsys, p)
		if err != nil {
			return err
		}
		name := strings.TrimPrefix(p, dir+"/")
		files = append(files, &loader.BufferedFile{Name: path.Clean(name), Data: data})
		return nil
	})
	if err != nil {
		return nil, err
	}
	return loader.LoadFiles(files)
}
