// Package version holds the insightctl version, injected at build time with
// -ldflags "-X github.com/insightgrid/insight/cli/version.Version=...". It must stay
// free of imports beyond the standard library so `insightctl version --client` is cheap.
package version

import "runtime"

// Version is the release of insightctl; "dev" for builds without ldflags.
var Version = "dev"

// Info is what `insightctl version` prints.
type Info struct {
	Version   string `json:"version"`
	GoVersion string `json:"goVersion"`
	Platform  string `json:"platform"`
}

// Get returns the client's version information.
func Get() Info {
	return Info{Version: Version, GoVersion: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
}
