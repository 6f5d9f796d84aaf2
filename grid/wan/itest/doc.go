// Package itest holds the integration tests of WAN replication: two sites, each an
// `insight-grid local --site` on loopback with its gateway, replicating to each other,
// driven by real clients. It has no non-test code and nothing may import it.
package itest
