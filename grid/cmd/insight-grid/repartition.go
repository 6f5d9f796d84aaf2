package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/insightgrid/insight/grid/api"
)

// repartitionPoll is how often repartition --wait asks for progress.
const repartitionPoll = 250 * time.Millisecond

// repartition asks the manager for c.parts partitions and, with --wait, prints each change
// of the progress until the grid has them.
func (c *adminCmd) repartition(ctx context.Context) int {
	start := time.Now()
	st, err := c.client.RequestRepartition(ctx, c.parts, c.rate)
	if err != nil {
		fmt.Fprintf(c.stderr, "insight-grid %s: %v\n", c.name, err)
		return 1
	}
	last := ""
	show := func(st *api.RepartitionStatus, err error) {
		if err != nil || c.output != "text" {
			return // the manager may be restarting: the re-partitioning goes on; ask again
		}
		line := fmt.Sprintf("%d -> %d partitions: %s, %d slots to move, %d moving; %s", st.Partitions, c.parts, st.State, st.SlotsRemaining, st.SlotsMoving, st.Message)
		if st.Idle() && st.Partitions == c.parts {
			line = fmt.Sprintf("%d partitions: done in %s", st.Partitions, time.Since(start).Round(time.Millisecond))
		}
		if line != last {
			fmt.Fprintf(c.stdout, "%s %s\n", time.Now().Format("15:04:05.000"), line)
			last = line
		}
	}
	final := *st
	if c.wait {
		final, err = api.FollowRepartition(ctx, c.client.Repartition, c.parts, repartitionPoll, show)
	} else {
		show(st, nil)
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		fmt.Fprintf(c.stderr, "insight-grid %s: not done after %s (--timeout): %s, %d slots to move; it goes on in the background: run the command again to follow it\n",
			c.name, c.timeout, final.State, final.SlotsRemaining)
		return 1
	case err != nil:
		fmt.Fprintf(c.stderr, "insight-grid %s: %v\n", c.name, err)
		return 1
	}
	if c.output == "json" {
		c.printJSON(final)
	}
	return 0
}
