package server

import (
	"testing"

	"github.com/insightgrid/insight/grid/store"
)

// journalTo applies every journaled operation to another store, as a backup does.
type journalTo struct {
	t   *testing.T
	dst *store.Store
}

func (j journalTo) Record(_ int, op []byte) {
	if err := j.dst.Apply(op); err != nil {
		j.t.Errorf("applying %x: %v", op, err)
	}
}

// serveFunctionStore serves st (journaling to j when not nil) and returns a client of it.
func serveFunctionStore(t *testing.T, st *store.Store, j store.Journal) *testClient {
	t.Helper()
	if j != nil {
		st.SetJournal(j)
	}
	_, dial := startServerOn(t, Config{Replication: Standalone{}}, st)
	return dial()
}

// TestFunctionsReplicateToTheBackup: FUNCTION LOAD, DELETE, FLUSH and RESTORE on a
// primary reach the server of its backup's store through the journal, and a backup
// loaded from a snapshot has them: after a failover FCALL finds the functions.
func TestFunctionsReplicateToTheBackup(t *testing.T) {
	primarySt, backupSt := store.New(1<<20), store.New(1<<20)
	primary := serveFunctionStore(t, primarySt, journalTo{t: t, dst: backupSt})
	backup := serveFunctionStore(t, backupSt, nil)
	lib := "#!lua name=lib1\nredis.register_function('f1', function(keys, args) return 'f1 ' .. args[1] end)"
	primary.expect(encodeCmd("FUNCTION", "LOAD", lib), "$4\r\nlib1\r\n")
	backup.expect(encodeCmd("FCALL", "f1", "0", "x"), "$4\r\nf1 x\r\n")
	primary.expect(encodeCmd("FUNCTION", "LOAD", "#!lua name=lib2\nredis.register_function('f2', function() return 2 end)"), "$4\r\nlib2\r\n")
	primary.expect(encodeCmd("FUNCTION", "DELETE", "lib1"), "+OK\r\n")
	backup.expect(encodeCmd("FCALL", "f1", "0", "x"), "-ERR Function not found\r\n")
	backup.expect(encodeCmd("FCALL", "f2", "0"), ":2\r\n")

	// A new backup starts from a snapshot: slot 0's dump carries the libraries.
	freshSt := store.New(1 << 20)
	fresh := serveFunctionStore(t, freshSt, nil)
	freshSt.Reset()
	for i := range 16384 {
		primarySt.DumpSlot(i, func(op []byte) {
			if err := freshSt.Apply(op); err != nil {
				t.Fatalf("snapshot op %x: %v", op, err)
			}
		})
	}
	fresh.expect(encodeCmd("FCALL", "f2", "0"), ":2\r\n")

	primary.expect(encodeCmd("FUNCTION", "FLUSH"), "+OK\r\n")
	backup.expect(encodeCmd("FCALL", "f2", "0"), "-ERR Function not found\r\n")
	backup.expect(encodeCmd("FUNCTION", "STATS"), "*4\r\n$14\r\nrunning_script\r\n$-1\r\n$7\r\nengines\r\n*2\r\n$3\r\nLUA\r\n*4\r\n$15\r\nlibraries_count\r\n:0\r\n$15\r\nfunctions_count\r\n:0\r\n")
}

// TestFunctionBusyAndKill: a function looping forever makes the instance BUSY (naming
// FUNCTION KILL), FUNCTION STATS names it, SCRIPT KILL refuses it, FUNCTION KILL ends it.
func TestFunctionBusyAndKill(t *testing.T) {
	_, dial := startServer(t, Config{Replication: Standalone{}})
	a, b := dial(), dial()
	b.expect(encodeCmd("CONFIG", "SET", "busy-reply-threshold", "100"), "+OK\r\n")
	b.expect(encodeCmd("FUNCTION", "LOAD", "#!lua name=loop\nredis.register_function('spin', function() while true do end end)"), "$4\r\nloop\r\n")
	a.send("FCALL", "spin", "0")
	waitBusy(t, b)
	b.expect(encodeCmd("GET", "{k}a"), "-"+errBusyFunction+"\r\n")
	b.expect(encodeCmd("SCRIPT", "KILL"), "-"+errBusyFunction+"\r\n")
	stats := b.call("FUNCTION", "STATS")
	if got := stats.([]any)[1].([]any); got[1] != "spin" || got[3].([]any)[0] != "FCALL" {
		t.Fatalf("FUNCTION STATS running_script: %#v", got)
	}
	b.expect(encodeCmd("FUNCTION", "KILL"), "+OK\r\n")
	a.read("-ERR Script killed by user with SCRIPT KILL... script: spin, on @user_function:2.\r\n")
	b.expect(encodeCmd("PING"), "+PONG\r\n")
}
