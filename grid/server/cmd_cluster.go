package server

import (
	"fmt"
	"strings"

	"github.com/insightgrid/insight/grid/cluster"
	"github.com/insightgrid/insight/grid/slots"
)

// serving lists the nodes that serve a partition's slots: its primary, then its backup
// once it is in sync (until then a backup holds no data clients may read).
func serving(p *cluster.PartitionView) []*cluster.Node {
	if p.Primary == nil {
		return nil
	}
	out := []*cluster.Node{p.Primary}
	if p.Backup != nil && p.Record.InSync {
		out = append(out, p.Backup)
	}
	return out
}

// viewOrDown returns the view, or answers CLUSTERDOWN when there is none yet.
func (c *conn) viewOrDown() *cluster.View {
	v := c.s.view.Load()
	if v == nil {
		c.wr.Error("CLUSTERDOWN The cluster is down")
	}
	return v
}

func cmdClusterSlots(c *conn, _ [][]byte) {
	v := c.viewOrDown()
	if v == nil {
		return
	}
	n := 0
	for i := range v.Partitions {
		if v.Partitions[i].Primary != nil {
			n += len(v.Partitions[i].Ranges)
		}
	}
	c.wr.Array(n)
	for i := range v.Partitions {
		p := &v.Partitions[i]
		nodes := serving(p)
		if len(nodes) == 0 {
			continue
		}
		for _, r := range p.Ranges {
			c.wr.Array(2 + len(nodes))
			c.wr.Int(int64(r.Start))
			c.wr.Int(int64(r.End))
			for _, node := range nodes {
				c.wr.Array(3)
				c.wr.BulkString(node.Host)
				c.wr.Int(int64(node.ClientPort(c.tls)))
				c.wr.BulkString(node.NodeID)
			}
		}
	}
}

func cmdClusterShards(c *conn, _ [][]byte) {
	v := c.viewOrDown()
	if v == nil {
		return
	}
	c.wr.Array(len(v.Partitions))
	for i := range v.Partitions {
		p := &v.Partitions[i]
		c.wr.Map(2)
		c.wr.BulkString("slots")
		c.wr.Array(2 * len(p.Ranges))
		for _, r := range p.Ranges {
			c.wr.Int(int64(r.Start))
			c.wr.Int(int64(r.End))
		}
		c.wr.BulkString("nodes")
		var nodes []*cluster.Node
		for _, n := range []*cluster.Node{p.Primary, p.Backup} {
			if n != nil {
				nodes = append(nodes, n)
			}
		}
		c.wr.Array(len(nodes))
		for _, n := range nodes {
			role, health := "master", "online"
			if n != p.Primary {
				role = "replica"
				if !p.Record.InSync {
					health = "loading"
				}
			}
			// Redis 7.0's fields: "port" when the node has a plain port, "tls-port" when it
			// has a TLS one, whatever the asking connection is.
			plain := n.TLSAddress == "" || n.Address != n.TLSAddress
			fields := 6
			if plain {
				fields++
			}
			if n.TLSPort != 0 {
				fields++
			}
			c.wr.Map(fields)
			c.wr.BulkString("id")
			c.wr.BulkString(n.NodeID)
			if plain {
				c.wr.BulkString("port")
				c.wr.Int(int64(n.Port))
			}
			if n.TLSPort != 0 {
				c.wr.BulkString("tls-port")
				c.wr.Int(int64(n.TLSPort))
			}
			c.wr.BulkString("ip")
			c.wr.BulkString(n.Host)
			c.wr.BulkString("endpoint")
			c.wr.BulkString(n.Host)
			c.wr.BulkString("role")
			c.wr.BulkString(role)
			c.wr.BulkString("replication-offset")
			var off uint64
			if n.ID == v.Self {
				off = c.s.cfg.Replication.Status().Offset
			}
			c.wr.Int(int64(off))
			c.wr.BulkString("health")
			c.wr.BulkString(health)
		}
	}
}

// NodesText renders CLUSTER NODES for v: one line per registered instance, each ending
// in a newline (redis-benchmark splits on it), with the nodes' TLS ports when tls (the
// asking client is on TLS), as Redis's tls-cluster does.
func NodesText(v *cluster.View, tls bool) string {
	var b strings.Builder
	for _, n := range v.Nodes {
		p := &v.Partitions[n.Partition]
		flags, master := "slave", "-"
		if p.Primary == n {
			flags = "master"
		} else if p.Primary != nil {
			master = p.Primary.NodeID
		}
		if n.ID == v.Self {
			flags = "myself," + flags
		}
		fmt.Fprintf(&b, "%s %s:%d@0 %s %s 0 0 %d connected", n.NodeID, n.Host, n.ClientPort(tls), flags, master, p.Record.Epoch)
		if p.Primary == n {
			for _, r := range p.Ranges {
				b.WriteString(" " + r.String())
			}
		}
		b.WriteByte('\n')
	}
	return b.String()
}

func cmdClusterNodes(c *conn, _ [][]byte) {
	if v := c.viewOrDown(); v != nil {
		c.wr.Verbatim(NodesText(v, c.tls))
	}
}

func cmdClusterInfo(c *conn, _ [][]byte) {
	v := c.s.view.Load()
	ok, size, known := 0, 0, 0
	var current, mine int64
	if v != nil {
		known = len(v.Nodes)
		for i := range v.Partitions {
			p := &v.Partitions[i]
			current = max(current, p.Record.Epoch)
			if p.ID == c.s.cfg.Partition {
				mine = p.Record.Epoch
			}
			if p.Primary == nil {
				continue
			}
			size++
			for _, r := range p.Ranges {
				ok += r.Len()
			}
		}
	}
	state := "ok"
	if ok < slots.Count {
		state = "fail"
	}
	assigned := 0
	if v != nil {
		assigned = slots.Count
	}
	c.wr.Verbatim(fmt.Sprintf("cluster_state:%s\r\ncluster_slots_assigned:%d\r\ncluster_slots_ok:%d\r\n"+
		"cluster_slots_pfail:0\r\ncluster_slots_fail:%d\r\ncluster_known_nodes:%d\r\ncluster_size:%d\r\n"+
		"cluster_current_epoch:%d\r\ncluster_my_epoch:%d\r\ncluster_stats_messages_sent:0\r\n"+
		"cluster_stats_messages_received:0\r\ntotal_cluster_links_buffer_limit_exceeded:0\r\n",
		state, assigned, ok, assigned-ok, known, size, current, mine))
}

func cmdClusterMyID(c *conn, _ [][]byte) {
	c.wr.BulkString(cluster.NodeID(cluster.InstanceID(c.s.cfg.Partition, c.s.cfg.Instance)))
}

func cmdClusterKeySlot(c *conn, args [][]byte) { c.wr.Int(int64(slots.Of(args[2]))) }

func slotArg(c *conn, b []byte) (int, bool) {
	n, ok := parseInt(b)
	if !ok || n < 0 || n >= slots.Count {
		c.wr.Error("ERR Invalid slot")
		return 0, false
	}
	return int(n), true
}

func cmdClusterCountKeysInSlot(c *conn, args [][]byte) {
	if s, ok := slotArg(c, args[2]); ok {
		c.wr.Int(int64(c.s.store.CountInSlot(s)))
	}
}

func cmdClusterGetKeysInSlot(c *conn, args [][]byte) {
	s, ok := slotArg(c, args[2])
	if !ok {
		return
	}
	n, ok := parseInt(args[3])
	if !ok || n < 0 {
		c.wr.Error("ERR Invalid number of keys")
		return
	}
	keys := c.s.store.KeysInSlot(s, int(min(n, 1<<20)))
	c.wr.Array(len(keys))
	for _, k := range keys {
		c.wr.Bulk(k)
	}
}

// help writes the HELP reply of a container command: its subcommands and summaries.
func help(c *conn, args [][]byte) {
	parent := c.lookup(c.s.cmds, args[0])
	subs := sortedSubs(parent)
	c.wr.Array(1 + len(subs))
	c.wr.Simple(strings.ToUpper(parent.name) + " <subcommand> [<arg> [value] [opt] ...]. Subcommands are:")
	for _, sub := range subs {
		c.wr.Simple(strings.ToUpper(sub.name) + " -- " + sub.summary)
	}
}

// cmdAsking lets the connection's next command run on a slot moving to this partition.
func cmdAsking(c *conn, _ [][]byte) {
	c.asking = true
	c.wr.Simple("OK")
}

// cmdSlotImport is SLOTIMPORT version slot op [op ...]: the source partition's primary
// hands over keys of a slot moving here, each as a whole-key operation of the store's
// journal; version is the partition map version the source moves the slot in. It is
// refused while this instance's view does not have the slot moving here (the manager
// lets sources copy only after the target saw the move, so that is a view not updated
// yet, or a move cancelled); the reply waits, like any write's, until the backup has the
// keys. Restoring a key again is harmless, so the source retries a failed batch whole.
func cmdSlotImport(c *conn, args [][]byte) {
	if !c.internalAllowed("SLOTIMPORT") {
		return
	}
	version, ok := parseInt(args[1])
	if !ok || version < 1 {
		c.wr.Error("ERR invalid partition map version")
		return
	}
	slot, ok := slotArg(c, args[2])
	if !ok {
		return
	}
	v := c.s.view.Load()
	if v == nil {
		c.wr.Error(fmt.Sprintf("TRYAGAIN no partition map here yet (the source has version %d)", version))
		return
	}
	if mv := v.Move(slot); mv == nil || mv.To.ID != c.s.cfg.Partition {
		c.wr.Error(fmt.Sprintf("TRYAGAIN slot %d is not moving to partition %d in partition map version %d here (the source has version %d)",
			slot, c.s.cfg.Partition, v.Version, version))
		return
	}
	c.slot = slot
	for _, op := range args[3:] {
		if err := c.s.store.Restore(slot, op); err != nil {
			c.wr.Error(fmt.Sprintf("ERR slot %d: %v", slot, err))
			return
		}
	}
	c.s.signalSlot(slot)
	c.wr.Simple("OK")
}
