package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/insightgrid/insight/grid/manager"
)

// repartitionPoll is how often repartition --wait asks for progress.
const repartitionPoll = 250 * time.Millisecond

// repartition asks the manager for c.parts partitions and, with --wait, prints each change
// of the progress until the grid has them.
func (c *adminCmd) repartition(ctx context.Context) int {
	start := time.Now()
	req := map[string]any{"partitions": c.parts}
	if c.rate != "" {
		req["rate"] = c.rate
	}
	body, _ := json.Marshal(req)
	out, ok := c.expect(ctx, http.MethodPost, "/v1/repartition", body, http.StatusAccepted, "")
	if !ok {
		return 1
	}
	var st manager.RepartitionStatus
	if err := json.Unmarshal(out, &st); err != nil {
		fmt.Fprintf(c.stderr, "insight-grid %s: reading the answer: %v\n", c.name, err)
		return 1
	}
	last := ""
	for {
		done := st.State == "idle" && st.Partitions == c.parts
		if c.output == "text" {
			line := fmt.Sprintf("%d -> %d partitions: %s, %d slots to move, %d moving; %s", st.Partitions, c.parts, st.State, st.SlotsRemaining, st.SlotsMoving, st.Message)
			if done {
				line = fmt.Sprintf("%d partitions: done in %s", st.Partitions, time.Since(start).Round(time.Millisecond))
			}
			if line != last {
				fmt.Fprintf(c.stdout, "%s %s\n", time.Now().Format("15:04:05.000"), line)
				last = line
			}
		}
		if done || !c.wait {
			if c.output == "json" {
				b, _ := json.Marshal(st)
				_, _ = c.stdout.Write(indentJSON(b))
			}
			return 0
		}
		select {
		case <-ctx.Done():
			fmt.Fprintf(c.stderr, "insight-grid %s: not done after %s (--timeout): %s, %d slots to move; it goes on in the background: run the command again to follow it\n",
				c.name, c.timeout, st.State, st.SlotsRemaining)
			return 1
		case <-time.After(repartitionPoll):
		}
		status, out, err := c.call(ctx, http.MethodGet, "/v1/repartition", nil)
		switch {
		case err != nil:
			continue // the manager may be restarting: the re-partitioning goes on; ask again
		case status != http.StatusOK:
			continue
		}
		var next manager.RepartitionStatus
		if json.Unmarshal(out, &next) == nil {
			st = next
		}
	}
}
