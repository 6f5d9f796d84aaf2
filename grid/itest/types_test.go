package itest

import (
	"fmt"
	"testing"
	"time"

	"github.com/insightgrid/insight/grid/internal/testutil"
	"github.com/insightgrid/insight/grid/slots"
)

// TestTypesSurviveFailover writes every data type (lists, sets, sorted sets, hashes,
// strings by APPEND and SETRANGE, bitmaps, HyperLogLogs, streams with auto and explicit
// IDs, a consumer group reading and acknowledging) on HA partitions, kills -9 the primary
// of partition 0, and once the restarted instance has caught up as the backup (by a
// snapshot: it restarted empty), kills the new primary too. Afterwards every key holds
// exactly the effects of the writes that ran: every acknowledged one, none twice; and keys
// with an expiry kept their type, encoding, expiry and value.
func TestTypesSurviveFailover(t *testing.T) {
	if testing.Short() {
		t.Skip("starts HA grids and kills primaries")
	}
	for _, partitions := range []int{1, 3} {
		t.Run(fmt.Sprintf("%d partitions", partitions), func(t *testing.T) {
			start := time.Now()
			g := startHALocal(t, partitions, partitions)
			c := newTypeClient(t, fmt.Sprintf("127.0.0.1:%d", g.base+10))
			owner := g.partitionOfSlot(t)
			tags := tagsIn(owner, partitions, max(1, 2/partitions), "fo")
			var static []string
			for _, tag := range tags {
				static = append(static, staticKeys(t.Context(), t, c, tag)...)
			}
			states := keyStates(t, c, static)
			load := startTypeLoad(t, c, newTypeWriters(tags), owner)
			testutil.Eventually(t, 20*time.Second, "20 acknowledged writes by every writer", func() bool { return load.grew(-1, nil, 20) })
			expiries := load.expireWriterKeys(t, c)
			for round := 1; round <= 2; round++ {
				before := g.killPrimary(t, 0)
				killed := time.Now()
				testutil.Eventually(t, 20*time.Second, "partition 0 taken over", func() bool {
					p, err := g.partition(0)
					return err == nil && p.Epoch > before.Epoch && p.Primary != before.Primary
				})
				base := load.acks()
				testutil.Eventually(t, 20*time.Second, "10 more acknowledged writes by every writer of partition 0", func() bool { return load.grew(0, base, 10) })
				t.Logf("kill -9 %d of %s, primary of partition 0 in epoch %d: every writer of partition 0 had 10 more writes acknowledged %s later",
					round, before.Primary, before.Epoch, time.Since(killed).Round(time.Millisecond))
			}
			load.stop()
			load.verify(t, c)
			load.checkWriterKeys(t, c, expiries)
			checkKeyStates(t, c, states)
			t.Logf("took %s", time.Since(start).Round(time.Millisecond))
		})
	}
}

// TestTypesSurviveRepartition writes every data type, as TestTypesSurviveFailover does,
// while an HA grid grows from 2 to 4 partitions and shrinks back to 2, keys of every type
// on slots that move each way: once the migrations settle, every key holds exactly the
// effects of the writes that ran, and keys with an expiry kept their type, encoding,
// absolute expiry (TTL) and value.
func TestTypesSurviveRepartition(t *testing.T) {
	if testing.Short() {
		t.Skip("starts an HA grid and re-partitions it")
	}
	start := time.Now()
	g := startHALocal(t, 2, 4)
	c := newTypeClient(t, fmt.Sprintf("127.0.0.1:%d", g.base+10))
	owner := g.partitionOfSlot(t)
	tags := quarterTags(t, "rp")
	var static []string
	for _, tag := range tags {
		static = append(static, staticKeys(t.Context(), t, c, tag)...)
	}
	states := keyStates(t, c, static)
	load := startTypeLoad(t, c, newTypeWriters(tags), owner)
	testutil.Eventually(t, 20*time.Second, "20 acknowledged writes by every writer", func() bool { return load.grew(-1, nil, 20) })
	expiries := load.expireWriterKeys(t, c)
	for _, n := range []int{4, 2} {
		began := time.Now()
		g.repartition(t, n, 0)
		testutil.Eventually(t, 40*time.Second, fmt.Sprintf("the grid re-partitioned to %d", n), func() bool { return g.repartitioned(n) })
		now := g.partitionOfSlot(t)
		moved := 0
		for _, tag := range tags {
			if now[slots.OfString(tag)] != owner[slots.OfString(tag)] {
				moved++
			}
		}
		if moved == 0 {
			t.Fatalf("re-partitioning to %d moved none of the slots of %v", n, tags)
		}
		owner = now
		base := load.acks()
		testutil.Eventually(t, 20*time.Second, "10 more acknowledged writes by every writer", func() bool { return load.grew(-1, base, 10) })
		t.Logf("re-partitioned (%d of %d writers' slots moved) to %d in %s under the load", moved, len(tags), n, time.Since(began).Round(time.Millisecond))
	}
	load.stop()
	load.verify(t, c)
	load.checkWriterKeys(t, c, expiries)
	checkKeyStates(t, c, states)
	t.Logf("took %s", time.Since(start).Round(time.Millisecond))
}

// TestTypesSurviveKillDuringRepartition grows an HA grid from 2 to 4 partitions under the
// typed load, the copying slowed down (256 KiB/s per source, over 2 MB of padding keys) so
// that the primary of source partition 0 can be killed -9 while it copies slots out: its
// backup takes over and copies again what was not handed off, a key imported twice
// replaces itself, and once the grid has 4 partitions every key of every type holds exactly
// the effects of the writes that ran, every padding key its value, and keys with an expiry
// their type, encoding, expiry and value.
func TestTypesSurviveKillDuringRepartition(t *testing.T) {
	if testing.Short() {
		t.Skip("starts an HA grid, re-partitions it and kills a primary")
	}
	start := time.Now()
	g := startHALocal(t, 2, 4)
	c := newTypeClient(t, fmt.Sprintf("127.0.0.1:%d", g.base+10))
	owner := g.partitionOfSlot(t)
	tags := quarterTags(t, "rk")
	var static []string
	for _, tag := range tags {
		static = append(static, staticKeys(t.Context(), t, c, tag)...)
	}
	states := keyStates(t, c, static)
	pad := preloadPadding(t, c, 4000, 512)
	load := startTypeLoad(t, c, newTypeWriters(tags), owner)
	testutil.Eventually(t, 20*time.Second, "20 acknowledged writes by every writer", func() bool { return load.grew(-1, nil, 20) })
	expiries := load.expireWriterKeys(t, c)

	g.repartition(t, 4, 256<<10)
	// The new partitions start empty and every key the writers write exists already: keys
	// on the target are keys copied to it.
	var copied int64
	var target int
	testutil.Eventually(t, 40*time.Second, "partition 0 part way through copying slots out", func() bool {
		st, err := g.repartitionStatus()
		if err != nil {
			return false
		}
		for _, mv := range st.Moves {
			if mv.From != 0 || mv.State != "migrating" {
				continue
			}
			p, err := g.partition(mv.To)
			if err != nil {
				return false
			}
			ist, err := g.status(p.Primary)
			copied, target = ist.Keys, mv.To
			return err == nil && copied >= 100
		}
		return false
	})
	before := g.killPrimary(t, 0)
	killed := time.Now()
	t.Logf("killed %s, primary of partition 0, while it copied slots out to partition %d (%d keys there so far)",
		before.Primary, target, copied)
	testutil.Eventually(t, 60*time.Second, "the grid re-partitioned to 4", func() bool { return g.repartitioned(4) })
	t.Logf("re-partitioned to 4 %s after the kill", time.Since(killed).Round(time.Millisecond))
	base := load.acks()
	testutil.Eventually(t, 20*time.Second, "10 more acknowledged writes by every writer", func() bool { return load.grew(-1, base, 10) })
	load.stop()
	load.verify(t, c)
	load.checkWriterKeys(t, c, expiries)
	checkKeyStates(t, c, states)
	checkPadding(t, c, pad)
	t.Logf("took %s", time.Since(start).Round(time.Millisecond))
}

// quarterTags is one hash tag in each quarter of the slots: growing 2 partitions to 4
// moves the second and the fourth, shrinking back moves them again.
func quarterTags(t *testing.T, prefix string) []string {
	t.Helper()
	four, err := slots.Balanced(4)
	if err != nil {
		t.Fatal(err)
	}
	quarter := make([]int, slots.Count)
	for p, r := range four {
		for s := r.Start; s <= r.End; s++ {
			quarter[s] = p
		}
	}
	return tagsIn(quarter, 4, 1, prefix)
}
