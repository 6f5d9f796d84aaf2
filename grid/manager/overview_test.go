package manager

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/insightgrid/insight/grid/api"
	"github.com/insightgrid/insight/grid/cluster"
	"github.com/insightgrid/insight/grid/registry"
)

func TestOverviewShowsThePartitionsAndAlertsOfUnservedOnes(t *testing.T) {
	tm := newTestManager(t, 2, true)
	var o api.Overview
	resp, err := http.Get(tm.api.URL + api.PathOverview)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /v1/overview: HTTP %d", resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(&o); err != nil {
		t.Fatal(err)
	}
	if len(o.Partitions) != 2 || o.Cluster.Partitions != 2 || !o.Cluster.HA || !o.Cluster.Etcd.Quorum || o.Repartition == nil || o.Repartition.State != api.StateIdle {
		t.Fatalf("overview %+v: want 2 HA partitions, etcd's quorum and an idle re-partitioning", o)
	}
	// No instance is registered: no partition is served.
	crit := map[string]bool{}
	for _, a := range o.Alerts {
		if a.Severity == "critical" {
			crit[a.Subject] = true
		}
	}
	if !crit["partition 0"] || !crit["partition 1"] {
		t.Fatalf("alerts %+v: want a critical alert per unserved partition", o.Alerts)
	}
	if _, err := time.Parse(time.RFC3339Nano, o.Time); err != nil {
		t.Fatalf("time %q: %v", o.Time, err)
	}
}

func TestOverviewRefusesWritesWith405(t *testing.T) {
	tm := newTestManager(t, 1, false)
	for _, p := range []string{api.PathOverview, api.PathEvents} {
		resp, err := http.Post(tm.api.URL+p, "application/json", strings.NewReader("{}"))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusMethodNotAllowed {
			t.Fatalf("POST %s: HTTP %d, want 405", p, resp.StatusCode)
		}
	}
}

// TestEventsPushAnEpochChangeWithoutWaitingForTheRefresh: the stream sends an overview
// at once, then another when a partition record changes in etcd, with the periodic
// refresh out of the way (an hour).
func TestEventsPushAnEpochChangeWithoutWaitingForTheRefresh(t *testing.T) {
	tm := newTestManager(t, 2, true)
	tm.eventsEvery = time.Hour
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, tm.api.URL+api.PathEvents, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("Content-Type %q", ct)
	}
	events := make(chan api.Overview, 16)
	go func() {
		defer close(events)
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		ev := ""
		for sc.Scan() {
			line := sc.Text()
			switch {
			case strings.HasPrefix(line, "event: "):
				ev = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: ") && ev == "overview":
				var o api.Overview
				if json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &o) == nil {
					events <- o
				}
			}
		}
	}()
	first := <-events
	if len(first.Partitions) != 2 || first.Partitions[1].Epoch != 1 {
		t.Fatalf("first event: %+v", first.Partitions)
	}
	st, err := registry.Load(ctx, tm.cli)
	if err != nil {
		t.Fatal(err)
	}
	rec := st.Records[1]
	rec.Epoch, rec.Primary, rec.Backup = rec.Epoch+1, rec.Backup, rec.Primary
	if _, err := registry.CASRecord(ctx, tm.cli, 1, st.RecordRevisions[1], rec); err != nil {
		t.Fatal(err)
	}
	for o := range events {
		if o.Partitions[1].Epoch == rec.Epoch {
			if o.Partitions[1].Primary != rec.Primary {
				t.Fatalf("partition 1 after the change: %+v, want primary %s", o.Partitions[1], rec.Primary)
			}
			return
		}
	}
	t.Fatalf("the stream ended (%v) before it showed the epoch change", ctx.Err())
}

// GET /v1/partitions and /v1/overview show each instance's node and zone as it
// registered them, and none for an instance registered without them.
func TestPartitionsShowTheInstancesNodeAndZone(t *testing.T) {
	tm := newTestManager(t, 1, true)
	tm.put(t, cluster.InstanceKey(0, 0), cluster.Instance{ID: cluster.InstanceID(0, 0), Partition: 0, Instance: 0,
		Address: "127.0.0.1:1", HTTPAddress: "127.0.0.1:1", Run: "r0", Node: "node-a", Zone: "zone-1"})
	tm.put(t, cluster.InstanceKey(0, 1), cluster.Instance{ID: cluster.InstanceID(0, 1), Partition: 0, Instance: 1,
		Address: "127.0.0.1:2", HTTPAddress: "127.0.0.1:2", Run: "r1"})
	for _, path := range []string{api.PathPartitions, api.PathOverview} {
		resp, err := http.Get(tm.api.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		var doc api.Partitions
		err = json.NewDecoder(resp.Body).Decode(&doc)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: HTTP %d, %v", path, resp.StatusCode, err)
		}
		if len(doc.Partitions) != 1 || len(doc.Partitions[0].Instances) != 2 {
			t.Fatalf("GET %s: %+v, want partition 0 with 2 instances", path, doc.Partitions)
		}
		got := map[string][2]string{}
		for _, in := range doc.Partitions[0].Instances {
			got[in.ID] = [2]string{in.Node, in.Zone}
		}
		want := map[string][2]string{cluster.InstanceID(0, 0): {"node-a", "zone-1"}, cluster.InstanceID(0, 1): {"", ""}}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("GET %s: node and zone by instance %v, want %v", path, got, want)
		}
	}
}
