package check

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// render writes the report as a table.
func render(out io.Writer, r *Report) error {
	w := r.Writes
	var b strings.Builder
	fmt.Fprintf(&b, "Release %s (namespace %s), Job %s: %d writers, %d writes/s for %.1fs\n", r.Release, r.Namespace, r.Job, w.Writers, w.Rate, w.DurationSeconds)
	switch d := r.Disruption; {
	case d == nil:
		b.WriteString("Disruption: none\n")
	case d.Pod != "":
		fmt.Fprintf(&b, "Disruption: %s at +%.1fs: deleted pod %s, the primary of partition %d\n", d.Kind, d.AfterSeconds, d.Pod, d.Partition)
	default:
		fmt.Fprintf(&b, "Disruption: %s at +%.1fs: %s\n", d.Kind, d.AfterSeconds, d.Switch)
	}
	b.WriteString("\n")
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "acknowledged writes\t%d\n", w.Acknowledged)
	fmt.Fprintf(tw, "failed writes\t%d\t(not acknowledged: their outcome is unknown, never counted as lost)\n", w.Failed)
	if len(w.LostKeys) > 0 {
		fmt.Fprintf(tw, "lost writes\t%d\t(first: %s)\n", w.Lost, strings.Join(w.LostKeys, " "))
	} else {
		fmt.Fprintf(tw, "lost writes\t%d\n", w.Lost)
	}
	if w.Unverified > 0 {
		fmt.Fprintf(tw, "unverified writes\t%d\t(could not be read back)\n", w.Unverified)
	}
	fmt.Fprintf(tw, "longest write gap\t%.1f ms\t(from +%.1fs)\n", w.LongestGapMs, w.GapAfterSeconds)
	fmt.Fprintf(tw, "latency p50 / p99 / max\t%.2f / %.2f / %.2f ms\n", w.P50Ms, w.P99Ms, w.MaxMs)
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, e := range w.Errors {
		fmt.Fprintf(&b, "error seen: %s\n", e)
	}
	if w.Error != "" {
		fmt.Fprintf(&b, "the writers did not finish: %s\n", w.Error)
	}
	b.WriteString("\n")
	tw = tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "PARTITION\tSLOTS\tPRIMARY\tBACKUP")
	for _, p := range r.Partitions {
		id := "?"
		if p.ID >= 0 {
			id = fmt.Sprint(p.ID)
		}
		backup := strings.Join(p.Backups, ", ")
		if backup == "" {
			backup = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", id, p.Slots, p.Primary, backup)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := io.WriteString(out, b.String())
	return err
}
