// Package chaos holds the grid's fault-injection tests for synchronous replication and
// failover: each test builds the insight-grid binary once, starts a fresh grid of real
// processes (`insight-grid local --ha`, or processes in network namespaces), drives it with
// go-redis ClusterClients, injects a fault (kill -9, SIGSTOP past the lease, a cut link
// between primary and backup, losing both instances of a partition) and then checks that
// every acknowledged write survived, that a concurrent register workload is linearizable
// (porcupine), that no two instances served as primary of one partition in one epoch, and
// how long writes stopped. They run with plain `go test ./grid/chaos` (skipped with -short).
// The package has no non-test code and nothing may import it.
package chaos
