package registry

import (
	"context"
	"errors"
	"log/slog"
	"net/url"
	"reflect"
	"strconv"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"

	"github.com/insightgrid/insight/grid/cluster"
	"github.com/insightgrid/insight/grid/internal/ports"
)

// startEtcd runs a one-member embedded etcd on loopback for the test and returns a client.
func startEtcd(t *testing.T) *clientv3.Client {
	t.Helper()
	base, err := ports.FreeBase("127.0.0.1", []int{0, 1}, 60000)
	if err != nil {
		t.Fatal(err)
	}
	u := func(p int) url.URL { return url.URL{Scheme: "http", Host: "127.0.0.1:" + strconv.Itoa(p)} }
	ec := embed.NewConfig()
	ec.Name = "test"
	ec.Dir = t.TempDir()
	ec.ListenClientUrls, ec.AdvertiseClientUrls = []url.URL{u(base)}, []url.URL{u(base)}
	ec.ListenPeerUrls, ec.AdvertisePeerUrls = []url.URL{u(base + 1)}, []url.URL{u(base + 1)}
	peer := u(base + 1)
	ec.InitialCluster = "test=" + peer.String()
	ec.LogLevel = "error"
	e, err := embed.StartEtcd(ec)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	select {
	case <-e.Server.ReadyNotify():
	case <-time.After(30 * time.Second):
		t.Fatal("embedded etcd not ready after 30s")
	}
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{"127.0.0.1:" + strconv.Itoa(base)}, DialTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	return cli
}

// The partition record changes only by compare-and-swap on what was read: its own
// revision and, when asked, the registrations'.
func TestLoadPartitionAndCASRecord(t *testing.T) {
	cli := startEtcd(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := LoadPartition(ctx, cli, 0); !errors.Is(err, ErrNoMap) {
		t.Fatalf("before the map: %v, want ErrNoMap", err)
	}
	if _, created, err := Bootstrap(ctx, cli, 2, true); err != nil || !created {
		t.Fatalf("bootstrap: %v %v", created, err)
	}
	var nf *NotFoundError
	if _, err := LoadPartition(ctx, cli, 2); !errors.As(err, &nf) || err.Error() != "partition 2 not found: the grid has 2 partitions (0-1)" {
		t.Fatalf("partition 2: %v", err)
	}
	ps, err := LoadPartition(ctx, cli, 0)
	if err != nil {
		t.Fatal(err)
	}
	if ps.RecordRev == 0 || ps.Record != cluster.InitialRecord(0, true) || ps.Instances[0] != nil || ps.Partitions != 2 || !ps.HA {
		t.Fatalf("loaded %+v", ps)
	}
	next := ps.Record
	next.Epoch++
	if _, err := CASRecord(ctx, cli, 0, ps.RecordRev, next, ps.RegistrationsUnchanged()...); err != nil {
		t.Fatalf("first CAS: %v", err)
	}
	next.Epoch++
	if _, err := CASRecord(ctx, cli, 0, ps.RecordRev, next); !errors.Is(err, ErrConflict) {
		t.Fatalf("CAS on a stale revision: %v, want ErrConflict", err)
	}

	// An instance that registers after the read makes the CAS that compares the
	// registrations fail, even on the record's current revision.
	ps, err = LoadPartition(ctx, cli, 1)
	if err != nil {
		t.Fatal(err)
	}
	inst := cluster.Instance{ID: cluster.InstanceID(1, 0), Partition: 1, Instance: 0, Run: "r1"}
	if _, err := register(ctx, cli, inst, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if _, err := CASRecord(ctx, cli, 1, ps.RecordRev, ps.Record, ps.RegistrationsUnchanged()...); !errors.Is(err, ErrConflict) {
		t.Fatalf("CAS after a registration changed: %v, want ErrConflict", err)
	}
	ps, err = LoadPartition(ctx, cli, 1)
	if err != nil || ps.Instance(inst.ID) == nil || ps.Instances[0].Run != "r1" {
		t.Fatalf("after the registration: %+v, %v", ps, err)
	}
	st, err := Load(ctx, cli)
	if err != nil || st.Records[0].Epoch != cluster.InitialRecord(0, true).Epoch+1 {
		t.Fatalf("Load: %+v, %v", st, err)
	}
}

// Watch applies the changes to the state it delivered last: after registrations come and
// go, records change and the map is rewritten, its state is the one a fresh Load reads,
// and the states it handed out before are left as they were.
func TestWatchAppliesChanges(t *testing.T) {
	cli := startEtcd(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, _, err := Bootstrap(ctx, cli, 3, true); err != nil {
		t.Fatal(err)
	}
	states := make(chan *cluster.State, 100)
	wctx, stop := context.WithCancel(ctx)
	defer stop()
	go func() { _ = Watch(wctx, cli, slog.New(slog.DiscardHandler), func(st *cluster.State) { states <- st }) }()
	first := <-states
	firstRecords := len(first.Records)

	inst := cluster.Instance{ID: cluster.InstanceID(2, 1), Partition: 2, Instance: 1, Run: "r1", Address: "127.0.0.1:1"}
	lease, err := register(ctx, cli, inst, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	ps, err := LoadPartition(ctx, cli, 1)
	if err != nil {
		t.Fatal(err)
	}
	rec := ps.Record
	rec.Epoch += 5
	if _, err := CASRecord(ctx, cli, 1, ps.RecordRev, rec); err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Revoke(ctx, lease); err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Delete(ctx, cluster.PartitionKey(0)); err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Put(ctx, cluster.Prefix+"manager/other", "not part of the state"); err != nil {
		t.Fatal(err)
	}
	want, err := Load(ctx, cli)
	if err != nil {
		t.Fatal(err)
	}
	var got *cluster.State
	for got == nil || got.Revision < want.Revision {
		select {
		case got = <-states:
		case <-ctx.Done():
			t.Fatalf("no state at revision %d from the watch (last %+v)", want.Revision, got)
		}
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("watched state\n%+v\nwant the loaded one\n%+v", got, want)
	}
	if _, ok := got.Instances[inst.ID]; ok || got.Records[1].Epoch != rec.Epoch {
		t.Fatalf("watched state %+v: want %s gone and partition 1 at epoch %d", got, inst.ID, rec.Epoch)
	}
	if len(first.Records) != firstRecords || first.Records[1].Epoch == rec.Epoch {
		t.Fatalf("the first state delivered changed afterwards: %+v", first)
	}
}

// A registration keeps the node and zone the instance runs on through etcd: what Load
// reads back is what was registered, and an instance without them reads back empty.
func TestRegistrationCarriesNodeAndZone(t *testing.T) {
	cli := startEtcd(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, _, err := Bootstrap(ctx, cli, 2, true); err != nil {
		t.Fatal(err)
	}
	placed := cluster.Instance{ID: cluster.InstanceID(0, 0), Partition: 0, Instance: 0, Run: "r1", Address: "10.0.0.5:6379",
		HTTPAddress: "10.0.0.5:8080", Node: "ip-10-0-1-5.eu-west-1.compute.internal", Zone: "eu-west-1a", Version: "test"}
	bare := cluster.Instance{ID: cluster.InstanceID(1, 1), Partition: 1, Instance: 1, Run: "r2", Address: "10.0.0.6:6379"}
	for _, inst := range []cluster.Instance{placed, bare} {
		if _, err := register(ctx, cli, inst, 5*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	st, err := Load(ctx, cli)
	if err != nil {
		t.Fatal(err)
	}
	if got := st.Instances[placed.ID]; !reflect.DeepEqual(got, placed) {
		t.Errorf("registered %+v, loaded %+v", placed, got)
	}
	if got := st.Instances[bare.ID]; got.Node != "" || got.Zone != "" || got.Address != bare.Address {
		t.Errorf("an instance registered without node and zone loaded as %+v", got)
	}
}
