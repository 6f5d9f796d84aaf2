package repartition

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/insightgrid/insight/grid/api"
)

// script answers each poll with the next step (the last repeats).
type script []struct {
	st  api.RepartitionStatus
	err error
}

type scriptSource struct {
	steps script
	n     int
}

func (s *scriptSource) Repartition(context.Context) (*api.RepartitionStatus, error) {
	step := s.steps[min(s.n, len(s.steps)-1)]
	s.n++
	if step.err != nil {
		return nil, step.err
	}
	st := step.st
	return &st, nil
}

func TestFollow(t *testing.T) {
	moving := api.RepartitionStatus{Partitions: 3, Target: 3, State: "moving", SlotsRemaining: 100, SlotsMoving: 100, MapVersion: 4, Message: "copying"}
	down := &api.UnreachableError{Via: "http://m", Err: errors.New("connection refused")}
	clock := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	now := func() time.Time { clock = clock.Add(time.Second); return clock }
	for _, tc := range []struct {
		name    string
		steps   script
		tty     bool
		want    string // the error; "" none
		printed []string
	}{
		{name: "to the end, a manager restart in between", steps: script{{st: moving}, {st: moving}, {err: down}, {st: api.RepartitionStatus{Partitions: 3, State: "idle", MapVersion: 9}}},
			printed: []string{"moving to 3 partitions (3 in the map, version 4): 100 slots to move, 100 moving; copying [1s]", "manager: manager unreachable via http://m", "idle: 3 partitions (map version 9)"}},
		{name: "another target", steps: script{{st: api.RepartitionStatus{Partitions: 3, Target: 5, State: "growing"}}}, want: "being re-partitioned to 5 partitions, not 3"},
		{name: "ended elsewhere", steps: script{{st: api.RepartitionStatus{Partitions: 2, State: "idle"}}}, want: "ended with 2 partitions, not 3"},
		{name: "live line on a terminal", tty: true, steps: script{{st: moving}, {st: api.RepartitionStatus{Partitions: 3, State: "idle"}}},
			printed: []string{"\r\033[Kmoving to 3", "\r\033[Kidle: 3 partitions (map version 0) [", "]\n"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			_, err := Follow(context.Background(), &scriptSource{steps: tc.steps}, 3, Options{Out: &out, TTY: tc.tty, Now: now, Interval: time.Millisecond})
			if (err == nil) != (tc.want == "") || err != nil && !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want %q", err, tc.want)
			}
			for _, p := range tc.printed {
				if !strings.Contains(out.String(), p) {
					t.Errorf("output lacks %q:\n%s", p, out.String())
				}
			}
			if !tc.tty && strings.Count(out.String(), "moving to") > 1 {
				t.Errorf("an unchanged line was printed again:\n%s", out.String())
			}
		})
	}
}

func TestFollowEndsWithContext(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	last, err := Follow(ctx, &scriptSource{steps: script{{st: api.RepartitionStatus{Partitions: 2, Target: 3, State: "growing"}}}}, 3, Options{Out: &bytes.Buffer{}, Interval: time.Millisecond})
	if !errors.Is(err, context.DeadlineExceeded) || last.State != "growing" {
		t.Errorf("Follow after the deadline: %+v, %v", last, err)
	}
}
