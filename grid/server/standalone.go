package server

import (
	"net"
	"os"

	"github.com/insightgrid/insight/grid/cluster"
)

// Standalone is the Replication of an instance without a backup: it serves every command
// of its partition (the view still sends other partitions' slots on), replies wait for
// nothing, and REPLSYNC is refused.
type Standalone struct{}

// Admit lets every command run.
func (Standalone) Admit() (redirect, errReply string) { return "", "" }

// Barrier is zero: there is no backup to wait for.
func (Standalone) Barrier(bool, int) uint64 { return 0 }

// Wait returns true at once.
func (Standalone) Wait(uint64) bool { return true }

// Attach refuses a backup's REPLSYNC with an error reply and closes nc.
func (Standalone) Attach(nc net.Conn, _ []byte, _ [][]byte) {
	defer nc.Close()
	_, _ = nc.Write([]byte("-ERR this instance runs standalone: it has no replication stream to serve\r\n"))
}

// Status reports a serving primary with no backup and nothing journaled.
func (Standalone) Status() cluster.InstanceStatus {
	return cluster.InstanceStatus{Ready: true, Role: "primary", PID: os.Getpid(), Serving: true}
}
