package api

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"time"
)

// The documents of `insight-grid check`, the in-cluster write test that `insightctl check`
// runs as a Job: the role prints each as one JSON line on stdout, and insightctl reads them
// back from the pod's log. They are not served by the manager, but they are a contract
// between the grid binary and the CLI, so they live here with the others.

// CheckSchema names the documents' schema; it changes only with a breaking change.
const CheckSchema = "insight.dev/check/v1"

// Kinds of check documents.
const (
	// CheckStarted is printed once the first write is acknowledged: the writers run.
	CheckStarted = "started"
	// CheckResult is printed once, at the end, with the figures.
	CheckResult = "result"
)

// CheckReport is one line of the check's output: a CheckStarted or a CheckResult document.
type CheckReport struct {
	SchemaVersion string `json:"schemaVersion"`
	Kind          string `json:"kind"`
	// Slots is the partition map as the client saw it: at the start for CheckStarted, at
	// the end for CheckResult.
	Slots []SlotRange `json:"slots"`

	// The rest is the result's.

	// Started and Ended bound the writing; Verified is when the read-back ended.
	Started  time.Time `json:"started,omitzero"`
	Ended    time.Time `json:"ended,omitzero"`
	Verified time.Time `json:"verified,omitzero"`
	// Writers and Rate are the parameters: concurrent clients, writes per second in all.
	Writers int `json:"writers,omitempty"`
	Rate    int `json:"rate,omitempty"`
	// Attempted writes = Acknowledged + Failed. A failed write's outcome is unknown (the
	// grid may have applied it), so it is never counted as lost.
	Attempted    int64 `json:"attempted"`
	Acknowledged int64 `json:"acknowledged"`
	Failed       int64 `json:"failed"`
	// Lost are the acknowledged writes whose value could not be read back; LostKeys the
	// first of them.
	Lost     int64    `json:"lost"`
	LostKeys []string `json:"lostKeys,omitempty"`
	// Unverified are acknowledged keys that could not be read at all before the deadline
	// (the grid refused the reads): neither confirmed nor lost.
	Unverified int64 `json:"unverified"`
	// LongestGapMicros is the longest interval without an acknowledged write, from the
	// first acknowledgement to the end of the writing; GapStart is when it began.
	LongestGapMicros int64     `json:"longestGapMicros"`
	GapStart         time.Time `json:"gapStart,omitzero"`
	// Latencies of the acknowledged writes.
	P50Micros int64 `json:"p50Micros"`
	P99Micros int64 `json:"p99Micros"`
	MaxMicros int64 `json:"maxMicros"`
	// Errors are the first distinct errors of failed writes and reads.
	Errors []string `json:"errors,omitempty"`
	// Error is why the check could not run to the end; its figures are then partial.
	Error string `json:"error,omitempty"`
}

// SlotRange is a range of hash slots and the addresses of the instances that serve it,
// the primary first (CLUSTER SLOTS).
type SlotRange struct {
	From  int      `json:"from"`
	To    int      `json:"to"`
	Nodes []string `json:"nodes"`
}

// Primary is the address of the range's primary, or "" when it has none.
func (s SlotRange) Primary() string {
	if len(s.Nodes) == 0 {
		return ""
	}
	return s.Nodes[0]
}

// Gap is the longest write gap.
func (r *CheckReport) Gap() time.Duration {
	return time.Duration(r.LongestGapMicros) * time.Microsecond
}

// ParseCheckLog finds the check's documents in its log (other lines are skipped): the
// last CheckStarted and the last CheckResult, nil when absent.
func ParseCheckLog(log []byte) (started, result *CheckReport, err error) {
	sc := bufio.NewScanner(bytes.NewReader(log))
	sc.Buffer(make([]byte, 64*1024), 16*1024*1024)
	for sc.Scan() {
		line := bytes.TrimSpace(sc.Bytes())
		if !bytes.HasPrefix(line, []byte(`{"schemaVersion":"`+CheckSchema+`"`)) {
			continue
		}
		var r CheckReport
		if err := json.Unmarshal(line, &r); err != nil {
			return nil, nil, fmt.Errorf("check document: %w", err)
		}
		switch r.Kind {
		case CheckStarted:
			started = &r
		case CheckResult:
			result = &r
		}
	}
	if err := sc.Err(); err != nil {
		return nil, nil, fmt.Errorf("read the check's log: %w", err)
	}
	return started, result, nil
}
