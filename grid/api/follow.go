package api

import (
	"context"
	"fmt"
	"time"
)

// OtherTargetError says the grid is being re-partitioned to another count than the one
// followed, or ended on another count.
type OtherTargetError struct {
	Want int
	Got  RepartitionStatus
}

func (e *OtherTargetError) Error() string {
	if e.Got.Target != 0 {
		return fmt.Sprintf("the grid is being re-partitioned to %d partitions, not %d", e.Got.Target, e.Want)
	}
	return fmt.Sprintf("the re-partitioning ended with %d partitions, not %d (someone asked for another count meanwhile?)", e.Got.Partitions, e.Want)
}

// FollowRepartition asks get for the progress every interval until the grid has want
// partitions and nothing is pending, calling show with each answer or error. It returns
// the last progress read, an *OtherTargetError when the grid heads for another count, or
// ctx's error when it ends first. A manager that does not answer (one restarting, a
// leader changing) is asked again.
func FollowRepartition(ctx context.Context, get func(context.Context) (*RepartitionStatus, error), want int,
	interval time.Duration, show func(*RepartitionStatus, error)) (RepartitionStatus, error) {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	var last RepartitionStatus
	for {
		st, err := get(ctx)
		if ctx.Err() != nil {
			return last, ctx.Err()
		}
		show(st, err)
		if err == nil {
			last = *st
			switch {
			case last.Target != 0 && last.Target != want:
				return last, &OtherTargetError{Want: want, Got: last}
			case last.Idle() && last.Partitions == want:
				return last, nil
			case last.Idle():
				return last, &OtherTargetError{Want: want, Got: last}
			}
		}
		select {
		case <-ctx.Done():
			return last, ctx.Err()
		case <-tick.C:
		}
	}
}
