// Package wan replicates a grid's writes to other sites (WAN replication) and applies
// theirs: the per-key conflict metadata a data instance keeps with WAN on (Tracker), the
// outbox derived from it, and the gateway that ships each partition's outbox to the
// target sites' gateways and applies what they send (Gateway), and the repair of a site by
// per-slot digests of that metadata (digest.go, sync.go). docs/wan.md describes the
// design and its limits.
package wan
