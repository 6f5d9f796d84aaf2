// Package cluster defines the grid's shared state as kept in etcd — the key layout, the
// partition map, the per-partition record and the instance registrations — and the View a
// data instance derives from it to route keys (MOVED) and answer CLUSTER SLOTS, SHARDS and
// NODES. It is plain data and JSON: it must not depend on etcd's client, the network or
// the store, so the manager, the data role and tests share it.
package cluster

import (
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"net"
	"strconv"

	"github.com/insightgrid/insight/grid/slots"
)

// The etcd key layout. Everything lives under one versioned prefix so a future layout can
// sit beside this one during an upgrade.
//
//	/insight/v1/partitionmap           PartitionMap, written once by CAS on absence
//	/insight/v1/partitions/<P>         Record of partition P, changed only by CAS on its mod revision
//	/insight/v1/instances/<P>/<I>      Instance, bound to the instance's lease (gone when it dies)
//	/insight/v1/manager/partitions     the managers' --partitions as last applied
//	/insight/v1/manager/ha             the managers' --ha as last applied
const (
	Prefix                     = "/insight/v1/"
	MapKey                     = Prefix + "partitionmap"
	ManagerPartitionsKey       = Prefix + "manager/partitions"
	ManagerHAKey               = Prefix + "manager/ha"
	PartitionsPrefix           = Prefix + "partitions/"
	InstancesPrefix            = Prefix + "instances/"
	RolePrimary                = "primary"
	RoleBackup                 = "backup"
	firstEpoch           int64 = 1
)

// PartitionKey is the etcd key of partition p's record.
func PartitionKey(p int) string { return PartitionsPrefix + strconv.Itoa(p) }

// InstanceKey is the etcd key of an instance's registration.
func InstanceKey(p, i int) string { return fmt.Sprintf("%s%d/%d", InstancesPrefix, p, i) }

// InstanceID names instance i of partition p ("p0-i1").
func InstanceID(p, i int) string { return fmt.Sprintf("p%d-i%d", p, i) }

// NodeID is the 40-hex-digit Redis Cluster node ID of an instance: derived from its name,
// so it survives restarts as a Redis node's ID survives in nodes.conf.
func NodeID(instanceID string) string {
	sum := sha1.Sum([]byte("insight-grid/" + instanceID))
	return hex.EncodeToString(sum[:])
}

// PartitionMap assigns every slot to a partition. Version grows with every change; only
// compare-and-swap on the key's mod revision changes it. Target is the partition count
// re-partitioning works towards (0: none requested), and Moves are the slots on their way
// from one partition to another: the data instances route them with Redis Cluster's
// migration rules (ASK, ASKING, TRYAGAIN).
type PartitionMap struct {
	Version    int64            `json:"version"`
	Slots      int              `json:"slots"`
	HA         bool             `json:"ha"`
	Partitions []PartitionSlots `json:"partitions"`
	Target     int              `json:"target,omitempty"`
	Moves      []Move           `json:"moves,omitempty"`
	// MoveRate bounds how many bytes of keys per second each source partition's primary
	// copies; 0: as fast as it can.
	MoveRate int64 `json:"moveRate,omitempty"`
}

// The states of a Move, in the order a slot goes through them.
const (
	// MoveImporting: the target accepts commands sent with ASKING; the source still owns
	// the slot as before. It exists so the target knows before the source redirects.
	MoveImporting = "importing"
	// MoveMigrating: the source serves the keys it still holds, sends clients asking for
	// others to the target with ASK, and copies its keys to the target.
	MoveMigrating = "migrating"
	// MoveHandoff: the source holds no key of the slot; the target serves it without
	// ASKING, so clients sent there by MOVED before it learns it owns the slot are served.
	MoveHandoff = "handoff"
)

// Move is a set of slots on their way from partition From to partition To.
type Move struct {
	Slots [][2]int `json:"slots"`
	From  int      `json:"from"`
	To    int      `json:"to"`
	State string   `json:"state"`
}

// PartitionSlots is one partition's slots in the map.
type PartitionSlots struct {
	ID    int      `json:"id"`
	Slots [][2]int `json:"slots"`
}

// NewPartitionMap spreads the slots over n partitions in balanced contiguous ranges.
func NewPartitionMap(n int, ha bool) (*PartitionMap, error) {
	ranges, err := slots.Balanced(n)
	if err != nil {
		return nil, err
	}
	m := &PartitionMap{Version: 1, Slots: slots.Count, HA: ha}
	for i, r := range ranges {
		m.Partitions = append(m.Partitions, PartitionSlots{ID: i, Slots: [][2]int{{r.Start, r.End}}})
	}
	return m, nil
}

// Validate checks that every slot belongs to exactly one partition.
func (m *PartitionMap) Validate() error {
	if m.Slots != slots.Count {
		return fmt.Errorf("partition map: slots %d, want %d", m.Slots, slots.Count)
	}
	var seen [slots.Count]bool
	for i, p := range m.Partitions {
		if p.ID != i {
			return fmt.Errorf("partition map: partition at index %d has id %d", i, p.ID)
		}
		for _, r := range p.Slots {
			if r[0] < 0 || r[1] >= slots.Count || r[0] > r[1] {
				return fmt.Errorf("partition map: partition %d: bad slot range %v", p.ID, r)
			}
			for s := r[0]; s <= r[1]; s++ {
				if seen[s] {
					return fmt.Errorf("partition map: slot %d assigned twice", s)
				}
				seen[s] = true
			}
		}
	}
	for s, ok := range seen {
		if !ok {
			return fmt.Errorf("partition map: slot %d not assigned", s)
		}
	}
	if m.MoveRate < 0 {
		return fmt.Errorf("partition map: move rate %d is negative", m.MoveRate)
	}
	return m.validateMoves()
}

// validateMoves checks that every moving slot belongs to its move's source, moves once,
// and goes to another partition of the map.
func (m *PartitionMap) validateMoves() error {
	owner := m.Owners()
	var moving [slots.Count]bool
	for i, mv := range m.Moves {
		switch mv.State {
		case MoveImporting, MoveMigrating, MoveHandoff:
		default:
			return fmt.Errorf("partition map: move %d: unknown state %q", i, mv.State)
		}
		if mv.From < 0 || mv.From >= len(m.Partitions) {
			return fmt.Errorf("partition map: move %d: bad source partition %d", i, mv.From)
		}
		if mv.To < 0 || mv.To >= len(m.Partitions) || mv.To == mv.From {
			return fmt.Errorf("partition map: move %d: bad target partition %d (from %d)", i, mv.To, mv.From)
		}
		if len(mv.Slots) == 0 {
			return fmt.Errorf("partition map: move %d: no slots", i)
		}
		for _, r := range mv.Slots {
			if r[0] < 0 || r[1] >= slots.Count || r[0] > r[1] {
				return fmt.Errorf("partition map: move %d: bad slot range %v", i, r)
			}
			for s := r[0]; s <= r[1]; s++ {
				if owner[s] != mv.From {
					return fmt.Errorf("partition map: move %d: slot %d belongs to partition %d, not %d", i, s, owner[s], mv.From)
				}
				if moving[s] {
					return fmt.Errorf("partition map: slot %d moves twice", s)
				}
				moving[s] = true
			}
		}
	}
	return nil
}

// Owners returns the partition of every slot (-1: none), from Partitions alone.
func (m *PartitionMap) Owners() []int {
	owner := make([]int, slots.Count)
	for i := range owner {
		owner[i] = -1
	}
	for _, p := range m.Partitions {
		for _, r := range p.Slots {
			for s := max(r[0], 0); s <= r[1] && s < slots.Count; s++ {
				owner[s] = p.ID
			}
		}
	}
	return owner
}

// Record is a partition's replication state. Only compare-and-swap on the key's mod
// revision changes it. Epoch grows with every change of primary; replicated operations
// carry it so a backup fences a deposed primary. PrimaryRun names the process (its Run)
// that holds the partition's data as primary: a primary restarted with an empty memory has
// another run and must not serve; empty means no process has served yet. BackupRun names
// the backup process that InSync vouches for. Without HA, instance 0 is the primary of
// epoch 1 unless an operator resets the partition.
type Record struct {
	Epoch            int64  `json:"epoch"`
	Primary          string `json:"primary"`
	Backup           string `json:"backup,omitempty"`
	InSync           bool   `json:"inSync"`
	PreferredPrimary string `json:"preferredPrimary"`
	PrimaryRun       string `json:"primaryRun,omitempty"`
	BackupRun        string `json:"backupRun,omitempty"`
	// Floor is the position the manager's last restart election promoted from: the
	// partition held at least that much, so an instance whose disk is behind it is
	// provably older (nil: no election yet).
	Floor *Position `json:"floor,omitempty"`
}

// Position is a point of a partition's replication numbering: the epoch and sequence
// number of the last change applied. Positions order by epoch, then sequence: a newer
// epoch's primary took over with every acknowledged change of the older ones.
type Position struct {
	Epoch int64  `json:"epoch"`
	Seq   uint64 `json:"seq"`
}

// Less reports whether p is older than q.
func (p Position) Less(q Position) bool {
	return p.Epoch < q.Epoch || (p.Epoch == q.Epoch && p.Seq < q.Seq)
}

// DiskState is what a data instance with a data directory (--data-dir) loaded from it at
// start, registered with the instance for the manager's restart election.
type DiskState struct {
	// Position is the epoch and sequence of the last record the disk held (0/0: none).
	Position
	// Keys is how many keys the load left in the store.
	Keys int64 `json:"keys"`
	// Recovering: the disk ended inside a full sync from a primary that the stop
	// interrupted, so it holds no usable copy (loaded empty) and must sync again.
	Recovering bool `json:"recovering,omitempty"`
}

// Empty reports whether the disk held nothing: no numbered record and no key.
func (d DiskState) Empty() bool { return d.Position == (Position{}) && d.Keys == 0 }

// InitialRecord is partition p's record when the grid is first deployed.
func InitialRecord(p int, ha bool) Record {
	r := Record{Epoch: firstEpoch, Primary: InstanceID(p, 0), PreferredPrimary: InstanceID(p, 0)}
	if ha {
		r.Backup = InstanceID(p, 1)
	}
	return r
}

// Instance is a data instance's registration.
type Instance struct {
	ID          string `json:"id"`
	Partition   int    `json:"partition"`
	Instance    int    `json:"instance"`
	Address     string `json:"address"`     // host:port of RESP
	HTTPAddress string `json:"httpAddress"` // host:port of /livez, /readyz, /v1/status, /v1/handover
	// TLSAddress is host:port of RESP over TLS (--tls-port), what TLS clients are
	// redirected to; empty: none.
	TLSAddress string `json:"tlsAddress,omitempty"`
	// ReplAddress is host:port of the internal links' port (--repl-port, mutual TLS):
	// replication, SLOTIMPORT and pub/sub forwarding; empty: they use Address in plain.
	ReplAddress string `json:"replAddress,omitempty"`
	// Node and Zone are where the instance runs: the Kubernetes node's name and its
	// topology.kubernetes.io/zone (--node-name, --zone); empty: not known.
	Node      string `json:"node,omitempty"`
	Zone      string `json:"zone,omitempty"`
	Version   string `json:"version"`
	StartedAt string `json:"startedAt"`
	Run       string `json:"run"` // random per process start
	// Disk is what the instance's data directory held when this process started; nil
	// without --data-dir (memory only).
	Disk *DiskState `json:"disk,omitempty"`
}

// InstanceStatus is what a data instance reports at its HTTP /v1/status endpoint and the
// manager API shows per instance. Offsets are replication sequence numbers: Offset is the
// last change produced (primary) or applied (backup) here, AckedOffset the last one the
// backup confirmed to this primary, LagOps how far the backup is behind.
type InstanceStatus struct {
	Ready           bool   `json:"ready"`
	Role            string `json:"role"`
	Keys            int64  `json:"keys"`
	UsedMemoryBytes int64  `json:"usedMemoryBytes"`
	Partition       int    `json:"partition"`
	Instance        int    `json:"instance"`
	ID              string `json:"id"`
	PID             int    `json:"pid"`
	Run             string `json:"run"`
	Epoch           int64  `json:"epoch"`
	Serving         bool   `json:"serving"`
	InSync          bool   `json:"inSync"`
	Offset          uint64 `json:"offset"`
	AckedOffset     uint64 `json:"ackedOffset"`
	LagOps          uint64 `json:"lagOps"`
	Why             string `json:"why,omitempty"`
	// MapVersion is the partition map version this instance routes with.
	MapVersion int64 `json:"mapVersion"`
	// RoutedSlots counts the slots this instance's CLUSTER SLOTS names a primary for:
	// 16384 once its view lists every partition's registered primary.
	RoutedSlots int `json:"routedSlots"`
	// Migration is the progress of the slots moving out of this instance's partition.
	Migration MigrationStatus `json:"migration"`
	// Persistence is the journal on the instance's volume (nil without --data-dir).
	Persistence *PersistenceStatus `json:"persistence,omitempty"`
}

// PersistenceStatus is what an instance with a data directory reports of its journal
// (package persist): its fsync policy, how far it is durable, its files, and what the
// start loaded and cut.
type PersistenceStatus struct {
	Appendfsync        string   `json:"appendfsync"`
	Epoch              uint64   `json:"epoch"`
	SyncedOffset       uint64   `json:"syncedOffset"`
	JournalBytes       int64    `json:"journalBytes"`
	SnapshotBytes      int64    `json:"snapshotBytes"`
	Snapshots          int64    `json:"snapshots"`
	SnapshotInProgress bool     `json:"snapshotInProgress"`
	SnapshotError      string   `json:"snapshotError,omitempty"`
	Fsyncs             int64    `json:"fsyncs"`
	LoadedKeys         int64    `json:"loadedKeys"`
	LoadedRecords      int64    `json:"loadedRecords"`
	LoadMillis         int64    `json:"loadMillis"`
	Cut                string   `json:"cut,omitempty"`
	CutBytes           int64    `json:"cutBytes,omitempty"`
	CutRecords         int      `json:"cutRecords,omitempty"`
	Discarded          []string `json:"discarded,omitempty"`
	// Loaded is the position, keys and state the start loaded, as registered.
	Loaded *DiskState `json:"loaded,omitempty"`
}

// MigrationStatus is what a primary reports of the slots moving out of its partition.
// PendingSlots counts those that still hold keys here, as of partition map Version; the
// manager moves a batch of slots on once every source reports none for its version.
type MigrationStatus struct {
	Version      int64  `json:"version"`
	PendingSlots int    `json:"pendingSlots"`
	MovedKeys    int64  `json:"movedKeys"`
	Error        string `json:"error,omitempty"`
}

// State is everything under Prefix, as read at Revision.
type State struct {
	Revision int64
	Map      *PartitionMap
	// MapRevision is the map's mod revision, for compare-and-swap.
	MapRevision int64
	Records     map[int]Record
	// RecordRevisions are the records' mod revisions, for compare-and-swap.
	RecordRevisions map[int]int64
	Instances       map[string]Instance // by ID
}

// Node is an instance as the cluster commands show it.
type Node struct {
	Instance
	NodeID  string
	Host    string
	Port    int
	TLSPort int // 0: no RESP TLS port
	Role    string
}

// ClientAddress is where a client reaches n: its TLS address for a client on TLS (when n
// has one), its plain address otherwise, as Redis's tls-cluster sends TLS clients to TLS
// ports.
func (n *Node) ClientAddress(tls bool) string {
	if tls && n.TLSAddress != "" {
		return n.TLSAddress
	}
	return n.Address
}

// ClientPort is the port of ClientAddress.
func (n *Node) ClientPort(tls bool) int {
	if tls && n.TLSPort != 0 {
		return n.TLSPort
	}
	return n.Port
}

// InternalAddress is where the other instances' internal links (replication, SLOTIMPORT,
// pub/sub forwarding) reach inst: its replication port when it has one, else its RESP
// port.
func (inst Instance) InternalAddress() string {
	if inst.ReplAddress != "" {
		return inst.ReplAddress
	}
	return inst.Address
}

// PartitionView is a partition's slots and serving nodes.
type PartitionView struct {
	ID      int
	Ranges  []slots.Range
	Record  Record
	Primary *Node // nil while the primary is not registered
	Backup  *Node
}

// MoveView is a Move as the data path uses it.
type MoveView struct {
	From, To *PartitionView
	State    string
}

// View is the routing table of one data instance, rebuilt on every change in etcd and
// swapped atomically, so commands read it without locks.
type View struct {
	Self       string // this instance's ID
	Version    int64  // of the partition map
	MoveRate   int64  // the map's MoveRate
	Partitions []PartitionView
	Nodes      []*Node // every registered instance, ordered by partition then instance
	Moves      []MoveView
	tables     *slotTables
}

// slotTables are the slot lookups of one partition map, validated once and shared by the
// views built from it: every record or registration change builds a view in every
// instance, and only a new map changes these.
type slotTables struct {
	pm    *PartitionMap
	owner [slots.Count]int32
	move  [slots.Count]int16 // index into Moves (at most one a slot, so < 16384), -1: none
}

// newSlotTables validates pm and fills its slot lookups.
func newSlotTables(pm *PartitionMap) (*slotTables, error) {
	if err := pm.Validate(); err != nil {
		return nil, err
	}
	t := &slotTables{pm: pm}
	for i := range t.owner {
		t.owner[i] = -1
		t.move[i] = -1
	}
	for _, p := range pm.Partitions {
		for _, r := range p.Slots {
			for s := r[0]; s <= r[1]; s++ {
				t.owner[s] = int32(p.ID)
			}
		}
	}
	for i, mv := range pm.Moves {
		for _, r := range mv.Slots {
			for s := r[0]; s <= r[1]; s++ {
				t.move[s] = int16(i)
			}
		}
	}
	return t, nil
}

// BuildView derives the view of instance self from st. It fails when there is no valid
// partition map yet.
func BuildView(st *State, self string) (*View, error) { return BuildViewAfter(st, self, nil) }

// BuildViewAfter is BuildView given the view built before (nil: none): while the
// partition map is the same one (a change of records or registrations only), the map is
// not validated again and its slot lookups are shared with prev.
func BuildViewAfter(st *State, self string, prev *View) (*View, error) {
	if st.Map == nil {
		return nil, fmt.Errorf("no partition map in etcd at %s yet", MapKey)
	}
	v := &View{Self: self, Version: st.Map.Version, MoveRate: st.Map.MoveRate}
	if prev != nil && prev.tables != nil && prev.tables.pm == st.Map && prev.Version == st.Map.Version {
		v.tables = prev.tables
	} else {
		t, err := newSlotTables(st.Map)
		if err != nil {
			return nil, err
		}
		v.tables = t
	}
	byID := map[string]*Node{}
	for p := range st.Map.Partitions {
		for i := range 2 {
			inst, ok := st.Instances[InstanceID(p, i)]
			if !ok {
				continue
			}
			n := &Node{Instance: inst, NodeID: NodeID(inst.ID), Role: RoleBackup}
			host, port, err := net.SplitHostPort(inst.Address)
			if err != nil {
				return nil, fmt.Errorf("instance %s: address %q: %w", inst.ID, inst.Address, err)
			}
			n.Host = host
			n.Port, _ = strconv.Atoi(port)
			if inst.TLSAddress != "" {
				_, tport, err := net.SplitHostPort(inst.TLSAddress)
				if err != nil {
					return nil, fmt.Errorf("instance %s: TLS address %q: %w", inst.ID, inst.TLSAddress, err)
				}
				n.TLSPort, _ = strconv.Atoi(tport)
			}
			byID[inst.ID] = n
			v.Nodes = append(v.Nodes, n)
		}
	}
	for _, pm := range st.Map.Partitions {
		rec, ok := st.Records[pm.ID]
		if !ok {
			rec = InitialRecord(pm.ID, st.Map.HA)
		}
		pv := PartitionView{ID: pm.ID, Record: rec, Primary: byID[rec.Primary], Backup: byID[rec.Backup]}
		if pv.Primary != nil {
			pv.Primary.Role = RolePrimary
		}
		for _, r := range pm.Slots {
			pv.Ranges = append(pv.Ranges, slots.Range{Start: r[0], End: r[1]})
		}
		v.Partitions = append(v.Partitions, pv)
	}
	for _, mv := range st.Map.Moves {
		v.Moves = append(v.Moves, MoveView{From: &v.Partitions[mv.From], To: &v.Partitions[mv.To], State: mv.State})
	}
	return v, nil
}

// Move returns the move slot is part of, or nil.
func (v *View) Move(slot int) *MoveView {
	i := v.tables.move[slot]
	if i < 0 {
		return nil
	}
	return &v.Moves[i]
}

// Owner returns the partition owning slot.
func (v *View) Owner(slot int) *PartitionView {
	p := v.tables.owner[slot]
	if p < 0 {
		return nil
	}
	return &v.Partitions[p]
}

// RoutedSlots counts the slots whose partition has a registered primary in v.
func (v *View) RoutedSlots() int {
	n := 0
	for _, p := range v.Partitions {
		if p.Primary == nil {
			continue
		}
		for _, r := range p.Ranges {
			n += r.Len()
		}
	}
	return n
}

// SelfNode returns this instance as registered, or nil.
func (v *View) SelfNode() *Node {
	for _, n := range v.Nodes {
		if n.ID == v.Self {
			return n
		}
	}
	return nil
}
