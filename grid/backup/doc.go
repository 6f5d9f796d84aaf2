// Package backup takes a grid's partitions' snapshots for a backup and writes a backup's
// keys back: on a data instance, the snapshot of its partition (taken while it is the
// serving primary) and the restore of a batch of keys into the slots it owns, as writes
// (journaled, replicated to the backup, acknowledged once the backup has them); on the
// manager, the routing of a backup's keys to the partitions that own their slots now, so
// a grid restores a backup of any partition count. The snapshots' function libraries,
// which belong to every primary rather than to a slot, are read out of a backup's files
// and loaded on every primary of the target (functions.go).
//
// The snapshots are the journal's snapshot file format (package persist): CRC-checked
// records of the store's whole-key operations, which carry every type and the absolute
// expiry of each key. The package depends on the store, the journal's format, the
// FUNCTION DUMP payload (package rdb) and the cluster view; it must not depend on etcd or on the manager.
package backup
