package cluster

// Fresh reports whether r is a partition record as the partition map's creation wrote it
// (InitialRecord's epoch) that no process has claimed: it knows nothing of what the
// partition's instances held before. That is a first deploy, or the manager's state lost
// (a manager without persistence reinstalled or restarted) while the instances kept
// their disks. An operator's reset also leaves a record unclaimed, but of a later epoch:
// the instance it names claims it whatever its disk holds.
func (r Record) Fresh() bool { return r.PrimaryRun == "" && r.Epoch == firstEpoch }

// Served reports whether d shows that its instance's partition served before this
// process started: the disk held a record or a key, or it ended inside a full sync from a
// primary (Recovering: it loaded nothing, but the other instance held data). False for
// nil (no data directory) and for the empty disk of a first deploy.
func (d *DiskState) Served() bool { return d != nil && (!d.Empty() || d.Recovering) }
