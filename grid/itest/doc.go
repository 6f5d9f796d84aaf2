// Package itest holds the grid's integration tests: they build the insight-grid binary,
// start `insight-grid local --partitions 3` and drive it with real clients (go-redis's
// ClusterClient, redis-cli -c) and the manager's REST API. It has no non-test code and
// nothing may import it.
package itest
