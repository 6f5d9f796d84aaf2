package server

import (
	"strings"
	"sync/atomic"
	"testing"

	"github.com/insightgrid/insight/grid/cluster"
)

// syncedPrimary is the replication of a primary whose backup acknowledges every write.
type syncedPrimary struct {
	Standalone
	waited atomic.Int64
	inSync atomic.Bool
}

func (p *syncedPrimary) Barrier(write bool, _ int) uint64 {
	if write {
		return 7
	}
	return 0
}

func (p *syncedPrimary) Wait(seq uint64) bool {
	p.waited.Store(int64(seq))
	return true
}

func (p *syncedPrimary) Status() cluster.InstanceStatus {
	return cluster.InstanceStatus{Role: "primary", Serving: true, InSync: p.inSync.Load()}
}

func TestWaitCountsTheBackup(t *testing.T) {
	repl := &syncedPrimary{}
	repl.inSync.Store(true)
	_, dial := startServer(t, Config{Replication: repl})
	c := dial()
	c.expect(encodeCmd("SET", "{w}k", "v"), "+OK\r\n")
	// Pipelined after the write: WAIT waits for the write's acknowledgement itself.
	c.expect(encodeCmd("SET", "{w}k", "v")+encodeCmd("WAIT", "1", "0"), "+OK\r\n:1\r\n")
	if repl.waited.Load() != 7 {
		t.Fatalf("WAIT did not wait for the connection's write: waited for %d", repl.waited.Load())
	}
	c.expect(encodeCmd("WAIT", "2", "0"), ":1\r\n")
	repl.inSync.Store(false)
	c.expect(encodeCmd("WAIT", "1", "30"), ":0\r\n")
	c.expect(encodeCmd("WAIT", "0", "0"), ":0\r\n")

	// Standalone: no backup.
	_, dial = startServer(t, Config{Replication: Standalone{}})
	dial().expect(encodeCmd("WAIT", "1", "0"), ":0\r\n")
	// A backup refuses WAIT as a Redis replica does.
	_, dial = startServer(t, Config{Replication: backupOf{primary: "127.0.0.1:1"}})
	dial().expect(encodeCmd("WAIT", "0", "0"), "-ERR WAIT cannot be used with replica instances.")
}

func TestConfigMaxMemoryCeilingAndRewrite(t *testing.T) {
	s, dial := startServer(t, Config{Replication: Standalone{}, MaxMemoryCeiling: 100 << 20})
	c := dial()
	c.expect(encodeCmd("CONFIG", "SET", "maxmemory", "200mb"),
		"-ERR CONFIG SET failed (possibly related to argument 'maxmemory') - 200mb is above the ceiling 104857600 (100.00M: ")
	c.br.Reset(c.nc)
	c2 := dial()
	c2.expect(encodeCmd("CONFIG", "SET", "maxmemory", "50mb", "hz", "1000", "maxmemory-policy", "allkeys-lfu"), "+OK\r\n")
	if got := s.store.MaxMemory(); got != 50<<20 {
		t.Fatalf("maxmemory %d", got)
	}
	c2.expect(encodeCmd("CONFIG", "GET", "hz"), "*2\r\n$2\r\nhz\r\n$3\r\n500\r\n")
	c2.expect(encodeCmd("CONFIG", "GET", "maxmemory-policy"), "*2\r\n$16\r\nmaxmemory-policy\r\n$11\r\nallkeys-lfu\r\n")
	// Nothing changes unless every pair is valid.
	c2.expect(encodeCmd("CONFIG", "SET", "maxmemory", "60mb", "hz", "x"),
		"-ERR CONFIG SET failed (possibly related to argument 'hz') - argument couldn't be parsed into an integer\r\n")
	if got := s.store.MaxMemory(); got != 50<<20 {
		t.Fatalf("maxmemory changed by a refused CONFIG SET: %d", got)
	}
	c2.expect(encodeCmd("CONFIG", "SET", "hz", "5", "hz", "6"),
		"-ERR CONFIG SET failed (possibly related to argument 'hz') - duplicate parameter\r\n")
	c2.expect(encodeCmd("CONFIG", "SET", "save", "900 1"),
		"-ERR CONFIG SET failed (possibly related to argument 'save') - the grid does not save snapshots to disk")
	c2.br.Reset(c2.nc)
	c3 := dial()
	c3.expect(encodeCmd("CONFIG", "SET", "save", ""), "+OK\r\n")
	c3.expect(encodeCmd("CONFIG", "SET", "hash-max-listpack-entries", "1000"),
		"-ERR CONFIG SET failed (possibly related to argument 'hash-max-listpack-entries') - the grid's value encodings use fixed thresholds")
	c4 := dial()
	c4.expect(encodeCmd("CONFIG", "SET", "hash-max-ziplist-entries", "128"), "+OK\r\n")
	c4.expect(encodeCmd("CONFIG", "REWRITE"), "-ERR CONFIG REWRITE is not supported: the grid's configuration comes from its Helm chart")
}

func TestInfoStatsSections(t *testing.T) {
	s, dial := startServer(t, Config{Replication: Standalone{}})
	c := dial()
	c.expect(encodeCmd("SET", "{k}ia", "1"), "+OK\r\n")
	c.expect(encodeCmd("SET", "{k}ib", "1", "PX", "100000"), "+OK\r\n")
	c.expect(encodeCmd("GET", "{k}ia"), "$1\r\n1\r\n")
	c.expect(encodeCmd("GET"), "-ERR wrong number of arguments for 'get' command\r\n")
	c.expect(encodeCmd("LPUSH", "{k}ia", "x"), "-WRONGTYPE")
	c.br.Reset(c.nc)
	c = dial()
	c.expect(encodeCmd("NOSUCH"), "-ERR unknown command 'NOSUCH'")
	c.br.Reset(c.nc)
	c = dial()
	c.expect(encodeCmd("CONFIG", "GET", "hz"), "*2\r\n")
	c.br.Reset(c.nc)
	info := s.Info("commandstats", "errorstats", "keyspace", "stats")
	for _, want := range []string{
		"cmdstat_get:calls=1,usec=", ",rejected_calls=1,failed_calls=0\r\n",
		"cmdstat_lpush:calls=1,", "rejected_calls=0,failed_calls=1\r\n",
		"cmdstat_config|get:calls=1,",
		"errorstat_ERR:count=2\r\n", "errorstat_WRONGTYPE:count=1\r\n",
		"total_error_replies:3\r\n",
		"db0:keys=2,expires=1,avg_ttl=",
		"avg_ttl=9", // about 100000 ms remain
	} {
		if !strings.Contains(info, want) {
			t.Errorf("INFO lacks %q:\n%s", want, info)
		}
	}
	if def := s.Info(); strings.Contains(def, "cmdstat_") || !strings.Contains(def, "# Errorstats") {
		t.Errorf("default INFO: commandstats must be left out, errorstats in:\n%s", def)
	}
	if all := s.Info("all"); !strings.Contains(all, "cmdstat_get") {
		t.Errorf("INFO all lacks commandstats")
	}
	dial().expect(encodeCmd("CONFIG", "RESETSTAT"), "+OK\r\n")
	if info := s.Info("commandstats", "errorstats"); strings.Contains(info, "cmdstat_get") || strings.Contains(info, "errorstat_") {
		t.Errorf("after CONFIG RESETSTAT:\n%s", info)
	}
}
