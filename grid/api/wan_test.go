package api

import (
	"encoding/json"
	"testing"
)

// The gateway's status keeps the JSON names insightctl's goldens, the e2e tests and any
// script reading GET /v1/wan/status depend on, a partition's instance state inline.
func TestWANGatewayStatusJSONNames(t *testing.T) {
	st := WANGatewayStatus{
		Site:    "london",
		Targets: []WANGatewayTarget{{Site: "paris", Address: "10.0.0.7:7443", Backlog: 3, OldestAckedHLC: 7, LagSeconds: 1.5, OutOfSyncPartitions: []int{1}}},
		Partitions: []WANGatewayPartition{
			{Partition: 0, WANInstanceStatus: WANInstanceStatus{Site: "london", OutboxFull: "block", OutboxMax: 10, Outbox: 2, MetaKeys: 4, ClockHLC: 9,
				Targets:     []WANInstanceTarget{{Site: "paris", AckedHLC: 7, AckedTime: "2025-01-02T03:04:05.000Z", Backlog: 3, OutOfSync: true, MarkedOutOfSync: 1}},
				Unsupported: map[string]int64{"add-wins": 1}, Flushes: 1, Policies: "fp", PolicyMismatches: 1, BlockedWrites: 1, Applied: 5, Stale: 1}},
			{Partition: -1, Error: "no partition map"},
		},
		Batches: 1, Keys: 2, Bytes: 3, Applied: 4, Errors: 5,
		Repairs: []WANRepair{{Target: "paris", ID: 1, State: WANRepairFailed, Started: "s", Finished: "f", SlotsCompared: 2, SlotsDiffering: 1, KeysSent: 6, Error: "e"}},
	}
	got, err := json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"site":"london",` +
		`"targets":[{"site":"paris","address":"10.0.0.7:7443","backlog":3,"oldestAckedHLC":7,"lagSeconds":1.5,"outOfSyncPartitions":[1]}],` +
		`"partitions":[{"partition":0,"site":"london","outboxFull":"block","outboxMax":10,"outbox":2,"metaKeys":4,"clockHLC":9,` +
		`"targets":[{"site":"paris","ackedHLC":7,"ackedTime":"2025-01-02T03:04:05.000Z","backlog":3,"outOfSync":true,"markedOutOfSync":1}],` +
		`"unsupported":{"add-wins":1},"flushes":1,"policies":"fp","policyMismatches":1,"blockedWrites":1,"applied":5,"stale":1},` +
		`{"partition":-1,"site":"","outboxFull":"","outboxMax":0,"outbox":0,"metaKeys":0,"clockHLC":0,"targets":null,"unsupported":null,` +
		`"flushes":0,"policyMismatches":0,"blockedWrites":0,"applied":0,"stale":0,"error":"no partition map"}],` +
		`"batchesSent":1,"keysSent":2,"bytesSent":3,"keysApplied":4,"errors":5,` +
		`"repairs":[{"target":"paris","id":1,"state":"failed","started":"s","finished":"f","slotsCompared":2,"slotsDiffering":1,"keysSent":6,"error":"e"}]}`
	if string(got) != want {
		t.Errorf("WANGatewayStatus as JSON:\n%s\nwant:\n%s", got, want)
	}
	b, err := json.Marshal(WANRepairStarted{Target: "paris", ID: 2, State: WANRepairRunning})
	if err != nil || string(b) != `{"target":"paris","id":2,"state":"running"}` {
		t.Errorf("WANRepairStarted as JSON: %s, %v", b, err)
	}
}
