// Package status gathers what `insightctl status` shows: the Helm release, every
// partition (primary and backup pod, node, zone, ready, in sync) and the managers, joined
// with the manager's own view when it is reachable, and a loud warning when a partition
// shows two primaries. Report is the stable `-o json` schema (docs/cli.md).
//
// It reads the cluster through the Cluster interface and must not depend on cobra.
package status

import (
	"context"
	"fmt"
	"sort"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/insightgrid/insight/cli/internal/grid"
	"github.com/insightgrid/insight/grid/api"
)

// SchemaVersion names the JSON schema of Report; it changes only with a breaking change.
const SchemaVersion = "insight.dev/status/v1"

// Report is the status of one release.
type Report struct {
	SchemaVersion string      `json:"schemaVersion"`
	Release       Release     `json:"release"`
	Partitions    []Partition `json:"partitions"`
	Managers      []Member    `json:"managers"`
	// ManagerReachable tells whether the partition data below includes the manager's view.
	ManagerReachable bool   `json:"managerReachable"`
	ManagerError     string `json:"managerError,omitempty"`
	// Warnings are problems that need attention now (e.g. two primaries).
	Warnings []string `json:"warnings"`
}

// Release is the Helm release.
type Release struct {
	Name         string    `json:"name"`
	Namespace    string    `json:"namespace"`
	Status       string    `json:"status"`
	Revision     int       `json:"revision"`
	Chart        string    `json:"chart"`
	ChartVersion string    `json:"chartVersion"`
	AppVersion   string    `json:"appVersion"`
	Updated      time.Time `json:"updated"`
}

// Partition is one partition of the grid.
type Partition struct {
	ID int `json:"id"`
	// Primary and Backup are the instances in those roles; nil when there is none.
	Primary *Instance `json:"primary"`
	Backup  *Instance `json:"backup"`
	// InSync is the manager's word on whether the backup has every acknowledged write;
	// nil when the manager is unreachable.
	InSync *bool `json:"inSync"`
	Epoch  int64 `json:"epoch,omitempty"`
	// TwoPrimaries is true when more than one instance claims the primary role.
	TwoPrimaries bool       `json:"twoPrimaries"`
	Instances    []Instance `json:"instances"`
}

// Instance is one data pod.
type Instance struct {
	Pod      string `json:"pod"`
	Instance int    `json:"instance"`
	// Role is primary or backup per the manager, else by instance number (0 is the
	// preferred primary).
	Role            string `json:"role"`
	Node            string `json:"node"`
	Zone            string `json:"zone"`
	Ready           bool   `json:"ready"`
	State           string `json:"state"`
	Keys            *int64 `json:"keys,omitempty"`
	UsedMemoryBytes *int64 `json:"usedMemoryBytes,omitempty"`
}

// Member is one manager pod.
type Member struct {
	Pod   string `json:"pod"`
	Node  string `json:"node"`
	Zone  string `json:"zone"`
	Ready bool   `json:"ready"`
}

// Cluster is what status reads.
type Cluster interface {
	Pods(ctx context.Context) ([]corev1.Pod, error)
	Nodes(ctx context.Context) ([]corev1.Node, error)
	// Partitions returns the manager's partition view, or an error when unreachable.
	Partitions(ctx context.Context) ([]api.Partition, error)
}

// Collect builds the report for rel from the cluster.
func Collect(ctx context.Context, c Cluster, rel Release) (*Report, error) {
	r := &Report{SchemaVersion: SchemaVersion, Release: rel, Partitions: []Partition{}, Managers: []Member{}, Warnings: []string{}}
	pods, err := c.Pods(ctx)
	if err != nil {
		return nil, fmt.Errorf("list pods: %w", err)
	}
	nodes, err := c.Nodes(ctx)
	if err != nil {
		return nil, fmt.Errorf("list nodes: %w", err)
	}
	zone := map[string]string{}
	for i := range nodes {
		zone[nodes[i].Name] = grid.Zone(&nodes[i])
	}
	parts := map[int]*Partition{}
	for i := range pods {
		p := &pods[i]
		g := grid.Classify(p)
		st := grid.State(p)
		switch g.Kind {
		case grid.Manager:
			r.Managers = append(r.Managers, Member{Pod: p.Name, Node: p.Spec.NodeName, Zone: zone[p.Spec.NodeName], Ready: st == grid.StateReady})
		case grid.Data:
			part := parts[g.Partition]
			if part == nil {
				part = &Partition{ID: g.Partition}
				parts[g.Partition] = part
			}
			part.Instances = append(part.Instances, Instance{Pod: p.Name, Instance: g.Instance, Node: p.Spec.NodeName,
				Zone: zone[p.Spec.NodeName], Ready: st == grid.StateReady, State: string(st)})
		}
	}
	sort.Slice(r.Managers, func(i, j int) bool { return r.Managers[i].Pod < r.Managers[j].Pod })

	mv, err := c.Partitions(ctx)
	if err != nil {
		r.ManagerError = err.Error()
	} else {
		r.ManagerReachable = true
		for _, mp := range mv {
			part := parts[mp.ID]
			if part == nil {
				part = &Partition{ID: mp.ID}
				parts[mp.ID] = part
			}
			inSync := mp.InSync
			part.InSync, part.Epoch = &inSync, mp.Epoch
			for _, mi := range mp.Instances {
				inst := find(part, mi.Instance)
				if inst == nil {
					// Registered without a pod in view: where it runs is what it registered.
					part.Instances = append(part.Instances, Instance{Pod: "(no pod) " + mi.ID, Instance: mi.Instance, State: "absent",
						Node: mi.Node, Zone: mi.Zone})
					inst = &part.Instances[len(part.Instances)-1]
				}
				inst.Role, inst.Keys, inst.UsedMemoryBytes = mi.Role, mi.Keys, mi.UsedMemoryBytes
			}
		}
	}

	ids := make([]int, 0, len(parts))
	for id := range parts {
		ids = append(ids, id)
	}
	sort.Ints(ids)
	for _, id := range ids {
		part := parts[id]
		sort.Slice(part.Instances, func(i, j int) bool { return part.Instances[i].Instance < part.Instances[j].Instance })
		var primaries []string
		for i := range part.Instances {
			in := &part.Instances[i]
			if in.Role == "" {
				in.Role = "backup"
				if in.Instance == 0 {
					in.Role = "primary"
				}
			}
			if in.Role == "primary" {
				primaries = append(primaries, in.Pod)
			}
		}
		if len(primaries) > 1 {
			part.TwoPrimaries = true
			r.Warnings = append(r.Warnings, fmt.Sprintf("PARTITION %d HAS %d PRIMARIES (%v): writes may diverge; check the manager and the pods now", id, len(primaries), primaries))
		}
		if part.InSync != nil && !*part.InSync && len(part.Instances) > 1 {
			r.Warnings = append(r.Warnings, fmt.Sprintf("partition %d: the backup is not in sync; a primary failure now would leave the partition unwritable until it is", id))
		}
		r.Partitions = append(r.Partitions, *part)
	}
	// Primary and Backup point into the report's own Instances slices.
	for i := range r.Partitions {
		p := &r.Partitions[i]
		p.Primary, p.Backup = nil, nil
		for j := range p.Instances {
			in := &p.Instances[j]
			if in.Role == "primary" && p.Primary == nil {
				p.Primary = in
			}
			if in.Role == "backup" && p.Backup == nil {
				p.Backup = in
			}
		}
	}
	return r, nil
}

func find(p *Partition, instance int) *Instance {
	for i := range p.Instances {
		if p.Instances[i].Instance == instance {
			return &p.Instances[i]
		}
	}
	return nil
}
