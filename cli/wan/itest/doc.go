// Package itest holds the integration test of insightctl wan: two sites, each an
// `insight-grid local --site` on loopback replicating to the other, read by the whole
// insightctl command line through --gateway. It has no non-test code and nothing may
// import it.
package itest
