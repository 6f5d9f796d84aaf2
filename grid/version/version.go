// Package version holds the build version of insight-grid, injected at link time with
// -ldflags "-X github.com/insightgrid/insight/grid/version.Version=...". It must not import
// anything: every role reports it.
package version

// Version is the release of this binary; "dev" when built without -ldflags.
var Version = "dev"
