package api

// The WAN documents (docs/wan.md): a data instance's WAN state, and what a site's WAN
// gateway (grid/wan) serves to the operator: its status, which sums up its partitions'
// states per target site, and the repairs of a target site. The gateway serves them, and
// insightctl wan, the manager's overview and the tests read them.

// Paths of the WAN status and repairs. PathWANStatus is served by a data instance (its
// WANInstanceStatus) and by a site's gateway (its WANGatewayStatus); PathWANSync by the
// gateway (a WANSyncRequest, answered with a WANRepairStarted, 202), with the site's
// operator token.
const (
	PathWANStatus = "/v1/wan/status"
	PathWANSync   = "/v1/wan/sync"
)

// The states of a repair (WANRepair.State).
const (
	WANRepairRunning = "running"
	WANRepairDone    = "done"
	WANRepairFailed  = "failed"
)

// WANInstanceStatus is a data instance's WAN state.
type WANInstanceStatus struct {
	Site string `json:"site"`
	// OutboxFull is what the partition does when its outbox reaches OutboxMax keys:
	// block or mark-out-of-sync (--wan-outbox-full).
	OutboxFull string              `json:"outboxFull"`
	OutboxMax  int                 `json:"outboxMax"`
	Outbox     int                 `json:"outbox"`   // keys the outbox holds for the in-sync targets
	MetaKeys   int                 `json:"metaKeys"` // keys with metadata (tombstones included)
	ClockHLC   uint64              `json:"clockHLC"`
	Targets    []WANInstanceTarget `json:"targets"`
	// Unsupported counts local writes not replicated because the key's merge policy
	// cannot take them, by policy;
	// Flushes the flushes of slots (FLUSHALL, FLUSHDB), which are not replicated.
	Unsupported map[string]int64 `json:"unsupported"`
	Flushes     int64            `json:"flushes"`
	// Policies is the fingerprint of the conflict policies (--wan-policy; empty: none);
	// PolicyMismatches counts the batches refused because their site's differ.
	Policies         string `json:"policies,omitempty"`
	PolicyMismatches int64  `json:"policyMismatches"`
	// BlockedWrites counts write replies that waited for room in the outbox (block mode);
	// Applied and Stale the remote changes applied and those that lost to what the key
	// held (by its policy) or, merged, added nothing (delivered again).
	BlockedWrites int64 `json:"blockedWrites"`
	Applied       int64 `json:"applied"`
	Stale         int64 `json:"stale"`
}

// WANInstanceTarget is what a partition knows of one target site.
type WANInstanceTarget struct {
	Site string `json:"site"`
	// AckedHLC is the newest local timestamp the site has applied everything up to: 48
	// bits of wall-clock milliseconds, then a 16-bit counter; 0: never.
	AckedHLC  uint64 `json:"ackedHLC"`
	AckedTime string `json:"ackedTime,omitempty"` // AckedHLC's wall time, RFC 3339
	// Backlog is how many keys written here the site has not acknowledged.
	Backlog int `json:"backlog"`
	// OutOfSync says the outbox no longer holds the site's changes: it is being
	// resynchronized from the key metadata. MarkedOutOfSync counts the times.
	OutOfSync       bool   `json:"outOfSync"`
	MarkedOutOfSync uint64 `json:"markedOutOfSync"`
}

// WANGatewayStatus is a site's WAN gateway's status (GET PathWANStatus at the gateway).
type WANGatewayStatus struct {
	Site string `json:"site"`
	// Targets aggregates the partitions per target site: total backlog, the oldest
	// acknowledged timestamp, lag (now less its wall time while a backlog remains),
	// out-of-sync partitions.
	Targets    []WANGatewayTarget    `json:"targets"`
	Partitions []WANGatewayPartition `json:"partitions"`
	Batches    int64                 `json:"batchesSent"`
	Keys       int64                 `json:"keysSent"`
	Bytes      int64                 `json:"bytesSent"` // compressed
	Applied    int64                 `json:"keysApplied"`
	Errors     int64                 `json:"errors"`
	// Repairs are the running and recent repairs of a target site (POST PathWANSync).
	Repairs []WANRepair `json:"repairs"`
}

// WANGatewayTarget is one target site of a gateway over every partition.
type WANGatewayTarget struct {
	Site    string `json:"site"`
	Address string `json:"address"`
	Backlog int    `json:"backlog"`
	// OldestAckedHLC is the oldest timestamp a partition has had acknowledged by the
	// site (as WANInstanceTarget.AckedHLC); 0: a partition never had one.
	OldestAckedHLC      uint64  `json:"oldestAckedHLC"`
	LagSeconds          float64 `json:"lagSeconds"`
	OutOfSyncPartitions []int   `json:"outOfSyncPartitions"`
}

// WANGatewayPartition is one partition's WAN state as its primary reports it; Error says
// why it could not be read (partition -1: the partition map).
type WANGatewayPartition struct {
	Partition int `json:"partition"`
	WANInstanceStatus
	Error string `json:"error,omitempty"`
}

// WANRepair is one repair of a target site: the slots of the two sites compared, the
// keys of the differing ones sent.
type WANRepair struct {
	Target string `json:"target"`
	ID     int64  `json:"id"`
	// State is WANRepairRunning, WANRepairDone or WANRepairFailed.
	State string `json:"state"`
	// Started and Finished are RFC 3339 times; Finished is empty while running.
	Started        string `json:"started"`
	Finished       string `json:"finished,omitempty"`
	SlotsCompared  int    `json:"slotsCompared"`
	SlotsDiffering int    `json:"slotsDiffering"`
	KeysSent       int64  `json:"keysSent"`
	// Error says why a failed repair failed.
	Error string `json:"error,omitempty"`
}

// WANSyncRequest is the body of POST PathWANSync: the target site to repair.
type WANSyncRequest struct {
	Target string `json:"target"`
}

// WANRepairStarted is the 202 answer to POST PathWANSync: the repair started, running.
type WANRepairStarted struct {
	Target string `json:"target"`
	ID     int64  `json:"id"`
	State  string `json:"state"`
}
