package charts_test

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"
)

// TestTieringRendersOntoTheVolume checks that pu.tiering puts the cold values on the PU's
// volume, next to the journal, with the disk budget, and is absent by default.
func TestTieringRendersOntoTheVolume(t *testing.T) {
	for _, tc := range []struct {
		set            string
		dir, maxDisk   string
		wantTieringEnv bool
	}{
		{set: "pu.persistence.enabled=true", wantTieringEnv: false},
		{set: "pu.persistence.enabled=true,pu.tiering.enabled=true", dir: "/data/grid", maxDisk: "0", wantTieringEnv: true},
		{set: "pu.persistence.enabled=true,pu.tiering.enabled=true,pu.tiering.maxDisk=8Gi", dir: "/data/grid", maxDisk: "8Gi", wantTieringEnv: true},
	} {
		objs := decode(t, mustRender(t, valueSet{name: tc.set, sets: []string{tc.set}}).manifest)
		n := 0
		for _, obj := range objs {
			sts, ok := obj.(*appsv1.StatefulSet)
			if !ok || sts.Labels[labelComponent] != "pu" {
				continue
			}
			n++
			c := sts.Spec.Template.Spec.Containers[0]
			dir, maxDisk, data := env(c, "INSIGHT_TIERING_DIR"), env(c, "INSIGHT_TIERING_MAX_DISK"), env(c, "INSIGHT_DATA_DIR")
			if (dir != nil) != tc.wantTieringEnv || (maxDisk != nil) != tc.wantTieringEnv {
				t.Fatalf("--set %s: INSIGHT_TIERING_DIR %v, INSIGHT_TIERING_MAX_DISK %v", tc.set, dir, maxDisk)
			}
			if !tc.wantTieringEnv {
				continue
			}
			if dir.Value != tc.dir || maxDisk.Value != tc.maxDisk || data == nil || data.Value != tc.dir {
				t.Errorf("--set %s: tiering in %q with max disk %q (data in %v), want %q and %q", tc.set, dir.Value, maxDisk.Value, data, tc.dir, tc.maxDisk)
			}
		}
		if n == 0 {
			t.Fatalf("--set %s: no PU StatefulSet rendered", tc.set)
		}
	}
}
