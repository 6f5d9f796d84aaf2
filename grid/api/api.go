// Package api is the grid manager's REST contract (docs/CONTRACTS.md): the paths, the
// request and response documents, the error envelope {"error":{"code","message"}}, the
// byte sizes and rates the requests carry, and a small client; and the WAN gateway's
// status and repair documents (wan.go). The manager and the gateway serve these
// documents, and insight-grid's admin commands, grid/local, insightctl and the tests read
// them, so each shape is written once, here.
//
// It must depend on the standard library only: insightctl imports it, and nothing of the
// grid's server (etcd, the store) may come with it.
package api

import (
	"fmt"
	"strconv"
)

// Paths of the manager's REST API.
const (
	PathLivez       = "/livez"
	PathCluster     = "/v1/cluster"
	PathPartitions  = "/v1/partitions"
	PathRepartition = "/v1/repartition"
	PathHA          = "/v1/ha"
	PathManagers    = "/v1/managers"
	PathOverview    = "/v1/overview"
	// PathEvents streams the overview as server-sent events: one "overview" event at
	// once, then one on every change of the cluster state in etcd and every few seconds.
	PathEvents = "/v1/events"
)

// PartitionPath is the path of partition p, or of one of its operations (failover,
// failback, reset) when op is given.
func PartitionPath(p int, op string) string {
	s := PathPartitions + "/" + strconv.Itoa(p)
	if op != "" {
		s += "/" + op
	}
	return s
}

// The operations on one partition.
const (
	OpFailover = "failover"
	OpFailback = "failback"
	OpReset    = "reset"
)

// Roles of an instance in a partition.
const (
	RolePrimary = "primary"
	RoleBackup  = "backup"
)

// MaxPartitions bounds the partition count: one slot per partition at most.
const MaxPartitions = 16384

// InstanceID is the grid's name of instance i of partition p ("p0-i1"): the names in a
// partition record.
func InstanceID(p, i int) string { return fmt.Sprintf("p%d-i%d", p, i) }

// Cluster is GET /v1/cluster: the grid's shape, its managers and etcd's health.
type Cluster struct {
	Version    string    `json:"version"`
	Partitions int       `json:"partitions"`
	HA         bool      `json:"ha"`
	Slots      int       `json:"slots"`
	Managers   []Manager `json:"managers"`
	Etcd       Etcd      `json:"etcd"`
}

// Manager is one manager (an etcd member) in Cluster.
type Manager struct {
	Name      string `json:"name"`
	PeerURL   string `json:"peerURL"`
	ClientURL string `json:"clientURL"`
	Leader    bool   `json:"leader"`
	Healthy   bool   `json:"healthy"`
	// Learner is a member that joined and still catches up with the leader's log: it
	// does not vote and is promoted once in sync.
	Learner bool `json:"learner,omitempty"`
}

// Managers is GET /v1/managers and the answer to POST /v1/managers: the etcd members of
// the managers' cluster, by name.
type Managers struct {
	Members []Manager `json:"members"`
	// Voters counts the members that are not learners.
	Voters int `json:"voters"`
	// Removed names the members this request removed (POST only).
	Removed []string `json:"removed,omitempty"`
}

// ManagersRequest is POST /v1/managers: keep this many members, the lowest ordinals
// (the StatefulSet's first pods), and remove the others one at a time. Members are added
// by starting them (they join as learners), never by this request.
type ManagersRequest struct {
	Members *int `json:"members"`
}

// Etcd is the coordination store's health in Cluster.
type Etcd struct {
	Healthy bool `json:"healthy"`
	Quorum  bool `json:"quorum"`
}

// Partitions is GET /v1/partitions.
type Partitions struct {
	Partitions []Partition `json:"partitions"`
}

// Partition is one partition: its slots, its record and its registered instances
// (GET /v1/partitions/{id}).
type Partition struct {
	ID               int        `json:"id"`
	Slots            [][2]int   `json:"slots"`
	Epoch            int64      `json:"epoch"`
	Primary          string     `json:"primary"`
	Backup           string     `json:"backup"`
	InSync           bool       `json:"inSync"`
	PreferredPrimary string     `json:"preferredPrimary"`
	Instances        []Instance `json:"instances"`
}

// Instance is one registered instance of a partition. Keys and UsedMemoryBytes are what
// the instance itself reported; absent when it did not answer the manager.
type Instance struct {
	ID              string `json:"id"`
	Partition       int    `json:"partition"`
	Instance        int    `json:"instance"`
	Address         string `json:"address"`
	HTTPAddress     string `json:"httpAddress"`
	TLSAddress      string `json:"tlsAddress,omitempty"`  // RESP over TLS (--tls-port); absent: none
	ReplAddress     string `json:"replAddress,omitempty"` // the internal links' port (--repl-port); absent: none
	Node            string `json:"node,omitempty"`        // the Kubernetes node it runs on (--node-name); absent: not known
	Zone            string `json:"zone,omitempty"`        // that node's topology.kubernetes.io/zone (--zone); absent: not known
	Role            string `json:"role"`
	Ready           bool   `json:"ready"`
	Keys            *int64 `json:"keys,omitempty"`
	UsedMemoryBytes *int64 `json:"usedMemoryBytes,omitempty"`
	// Offset is the instance's position in its partition's replication stream (one per
	// write), LagOps the writes its backup has not acknowledged (primary only).
	Offset *uint64 `json:"offset,omitempty"`
	LagOps *uint64 `json:"lagOps,omitempty"`
}

// SwitchResult is the answer to failover and failback: the handover
// ({partition, from, to, epoch, pauseMicros}), or for a failback with nothing to do
// {partition, unchanged: true, primary, epoch}.
type SwitchResult struct {
	Partition   int    `json:"partition"`
	From        string `json:"from,omitempty"`
	To          string `json:"to,omitempty"`
	Epoch       int64  `json:"epoch,omitempty"` // from 1 on`
	PauseMicros int64  `json:"pauseMicros,omitempty"`
	Unchanged   bool   `json:"unchanged,omitempty"`
	Primary     string `json:"primary,omitempty"`
}

// String is the one-line form the admin commands and insightctl print.
func (r SwitchResult) String() string {
	if r.Unchanged {
		return fmt.Sprintf("partition %d: %s is already the primary, epoch %d, unchanged", r.Partition, r.Primary, r.Epoch)
	}
	return fmt.Sprintf("partition %d: %s -> %s, epoch %d, write pause %.2f ms", r.Partition, r.From, r.To, r.Epoch, float64(r.PauseMicros)/1000)
}

// Record is a partition's replication record as the API shows it.
type Record struct {
	Epoch            int64  `json:"epoch"`
	Primary          string `json:"primary"`
	Backup           string `json:"backup,omitempty"`
	InSync           bool   `json:"inSync"`
	PreferredPrimary string `json:"preferredPrimary"`
	PrimaryRun       string `json:"primaryRun,omitempty"`
	BackupRun        string `json:"backupRun,omitempty"`
}

// ResetResult is the answer to reset: the new record and the one it replaced.
type ResetResult struct {
	Partition int    `json:"partition"`
	Epoch     int64  `json:"epoch"`
	Primary   string `json:"primary"`
	Backup    string `json:"backup,omitempty"`
	Previous  Record `json:"previous"`
	// Warning is set when the chosen primary is down while the other copy is alive.
	Warning string `json:"warning,omitempty"`
}

// String is the one-line form (two with a warning) the admin commands print.
func (r ResetResult) String() string {
	s := fmt.Sprintf("partition %d: reset, epoch %d, primary %s", r.Partition, r.Epoch, r.Primary)
	if r.Backup != "" {
		s += fmt.Sprintf(", backup %s (catching up)", r.Backup)
	}
	s += "; writes only the lost copies held are gone"
	if r.Warning != "" {
		s += "\nwarning: " + r.Warning
	}
	return s
}

// RepartitionRequest is POST /v1/repartition: re-partition to Partitions, each source
// copying at most Rate bytes per second (nil: the manager's default, or the rate of the
// re-partitioning in progress).
type RepartitionRequest struct {
	Partitions *int  `json:"partitions"`
	Rate       *Rate `json:"rate,omitempty"`
}

// States of a re-partitioning.
const (
	StateIdle = "idle"
	// StateGrowing waits for the new partitions' instances.
	StateGrowing   = "growing"
	StateMoving    = "moving"
	StateShrinking = "shrinking"
	StateFinishing = "finishing"
)

// RepartitionStatus is GET /v1/repartition, and the answer to POST: the partitions in the
// map now, the count asked for (0: none) and how far the slots have moved.
type RepartitionStatus struct {
	Partitions int `json:"partitions"`
	Target     int `json:"target"`
	// State is one of the State constants.
	State      string `json:"state"`
	Message    string `json:"message"`
	MapVersion int64  `json:"mapVersion"`
	// SlotsRemaining still have to change owner, those in flight included.
	SlotsRemaining int    `json:"slotsRemaining"`
	SlotsMoving    int    `json:"slotsMoving"`
	Moves          []Move `json:"moves"`
	// RateBytesPerSecond is what each source partition copies at most (0: no limit).
	RateBytesPerSecond int64 `json:"rateBytesPerSecond"`
}

// Idle reports whether nothing is being re-partitioned.
func (r RepartitionStatus) Idle() bool { return r.State == StateIdle && r.Target == 0 }

// Move is one batch of slots moving between two partitions.
type Move struct {
	Slots [][2]int `json:"slots"`
	From  int      `json:"from"`
	To    int      `json:"to"`
	State string   `json:"state"`
}

// Error codes of the error envelope.
const (
	CodeBadRequest       = "BadRequest"
	CodeNotFound         = "NotFound"
	CodeConflict         = "Conflict"
	CodeUnavailable      = "Unavailable"
	CodeMethodNotAllowed = "MethodNotAllowed"
	CodeInternal         = "Internal"
	CodeBadGateway       = "BadGateway"
)

// ErrorBody is the envelope of every refusal: {"error":{"code":"NotFound","message":"..."}}.
type ErrorBody struct {
	Error ErrorDetail `json:"error"`
}

// ErrorDetail is the inside of ErrorBody.
type ErrorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// HARequest is POST /v1/ha: give every partition a backup (true) or none (false).
type HARequest struct {
	HA *bool `json:"ha"`
}

// HAStatus is GET /v1/ha, and the answer to POST: whether the grid wants a backup per
// partition, and how far the partitions are. With HA, Done once every partition's backup
// is in sync; without, once no partition's record names a backup (the backups' processes
// may then stop: nothing waits for them any more).
type HAStatus struct {
	HA         bool `json:"ha"`
	Partitions int  `json:"partitions"`
	// WithBackup counts the records that name a backup, InSync those whose backup is in sync.
	WithBackup int    `json:"withBackup"`
	InSync     int    `json:"inSync"`
	Done       bool   `json:"done"`
	Message    string `json:"message"`
}

// Overview is GET /v1/overview and the data of every "overview" event of /v1/events:
// the whole picture the UI shows, read in one go.
type Overview struct {
	// Time is when the manager read it (RFC 3339 with milliseconds).
	Time        string             `json:"time"`
	Cluster     Cluster            `json:"cluster"`
	Partitions  []Partition        `json:"partitions"`
	Repartition *RepartitionStatus `json:"repartition,omitempty"`
	Alerts      []Alert            `json:"alerts"`
	// WAN is the site's replication to the other sites; absent when the grid is not a
	// WAN site (the manager's --wan-site).
	WAN *WANOverview `json:"wan,omitempty"`
	// ReadOnly says the manager refuses the UI's actions (--ui-read-only).
	ReadOnly bool `json:"readOnly"`
}

// WANOverview is a WAN site's replication state as its partitions' primaries report it
// (their GET /v1/wan/status).
type WANOverview struct {
	Site    string      `json:"site"`
	Targets []WANTarget `json:"targets"`
	// Unanswered lists the partitions whose primary gave no WAN status, with the reason.
	Unanswered []WANPartition `json:"unanswered"`
}

// WANTarget is one site this site replicates to, over every partition.
type WANTarget struct {
	Site string `json:"site"`
	// Backlog is how many keys written here the site has not acknowledged.
	Backlog int `json:"backlog"`
	// LagSeconds is the largest, over the partitions with a backlog, of now less the
	// wall time of the partition's last acknowledged timestamp (0: no backlog).
	LagSeconds float64 `json:"lagSeconds"`
	// LastAck is the oldest of the partitions' last acknowledged timestamps as a time
	// (RFC 3339 with milliseconds; "": a partition has had nothing acknowledged yet).
	LastAck             string         `json:"lastAck"`
	OutOfSyncPartitions []int          `json:"outOfSyncPartitions"`
	Partitions          []WANPartition `json:"partitions"`
}

// WANPartition is one partition's state towards one target site.
type WANPartition struct {
	Partition  int     `json:"partition"`
	Primary    string  `json:"primary"`
	Backlog    int     `json:"backlog"`
	LagSeconds float64 `json:"lagSeconds"`
	LastAck    string  `json:"lastAck"`
	// OutOfSync says the partition's outbox lost the site's changes: it is being
	// resynchronized from the key metadata.
	OutOfSync bool   `json:"outOfSync"`
	Error     string `json:"error,omitempty"`
}

// Alert is a condition the manager sees in the grid's state.
type Alert struct {
	// Severity is "critical" (data unserved or at risk) or "warning".
	Severity string `json:"severity"`
	// Subject is what it is about ("partition 3", "etcd", "manager-1").
	Subject string `json:"subject"`
	Message string `json:"message"`
}

// Paths of the key browser: read-only, but POSTs, so that they need the operator token
// (or a UI session) as the grid's data is not for every reader of the manager's API.
const (
	PathKeysScan = "/v1/keys/scan"
	PathKeysGet  = "/v1/keys/get"
)

// Bounds of the key browser.
const (
	MaxScanCount   = 1000 // keys one KeysScanRequest returns at most
	MaxValueBytes  = 64 << 10
	MaxValueItems  = 100 // elements of a hash, list, set, sorted set or stream shown
	MaxElementSize = 1024
)

// KeysScanRequest is POST /v1/keys/scan: the keys matching Pattern (SCAN's MATCH glob;
// empty: every key), at most Count (default 100), from Cursor ("0" or empty: the start).
type KeysScanRequest struct {
	Pattern string `json:"pattern"`
	Cursor  string `json:"cursor"`
	Count   int    `json:"count"`
}

// KeysScan is the answer: the keys found, each with its partition, and the cursor to go
// on with ("0": every partition was scanned).
type KeysScan struct {
	Keys   []KeyRef `json:"keys"`
	Cursor string   `json:"cursor"`
}

// KeyRef is one key found, with the partition that holds it.
type KeyRef struct {
	Key       string `json:"key"`
	Partition int    `json:"partition"`
}

// KeyGetRequest is POST /v1/keys/get.
type KeyGetRequest struct {
	Key string `json:"key"`
}

// KeyValue is a key's type and value, bounded: a string's first MaxValueBytes, the first
// MaxValueItems elements of the other types (each cut at MaxElementSize bytes).
type KeyValue struct {
	Key       string `json:"key"`
	Partition int    `json:"partition"`
	// Type is TYPE's answer ("none": no such key).
	Type string `json:"type"`
	// TTLMillis is PTTL's answer: -1 no expiry, -2 no key.
	TTLMillis int64 `json:"ttlMillis"`
	// Length is the string's bytes or the elements of the other types.
	Length int64 `json:"length"`
	// String is a string's value; Items the elements of the others (a hash's field, value
	// pairs; a sorted set's member, score pairs; a stream's id, then field, value pairs).
	String    *string    `json:"string,omitempty"`
	Items     [][]string `json:"items,omitempty"`
	Truncated bool       `json:"truncated"`
}
