package wan

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"k8s.io/apimachinery/pkg/util/duration"

	"github.com/insightgrid/insight/cli/deps"
	"github.com/insightgrid/insight/grid/api"
)

// RunStatus prints the gateway's status: a table per target site, the counters and the
// repairs; -o json|yaml print the gateway's document whole.
func RunStatus(ctx context.Context, d *deps.Deps, o Options) error {
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	g, end, err := connect(ctx, d, o)
	if err != nil {
		return fmt.Errorf("wan status: %w", err)
	}
	defer end()
	st, raw, err := g.status(ctx)
	if err != nil {
		return fmt.Errorf("wan status: %w", err)
	}
	if done, err := d.IO.Print(raw); done {
		return err
	}
	return WriteStatus(d.IO.Out, st, g.c.Via, d.Now())
}

// status reads the gateway's status, and returns it with the document as the gateway
// sent it (-o json|yaml print it whole).
func (g *gateway) status(ctx context.Context) (*api.WANGatewayStatus, json.RawMessage, error) {
	var raw json.RawMessage
	if err := g.c.Do(ctx, http.MethodGet, api.PathWANStatus, nil, &raw); err != nil {
		return nil, nil, g.explain(err)
	}
	st := &api.WANGatewayStatus{}
	if err := json.Unmarshal(raw, st); err != nil {
		return nil, nil, fmt.Errorf("%s: GET %s answered no WAN gateway status: %w", g.what, api.PathWANStatus, err)
	}
	return st, raw, nil
}

// WriteStatus prints st for a human; via says how the gateway was reached, now is the
// clock the ages are measured with.
func WriteStatus(w io.Writer, st *api.WANGatewayStatus, via string, now time.Time) error {
	fmt.Fprintf(w, "Site %s, WAN gateway via %s\n\n", st.Site, via)
	if len(st.Targets) == 0 {
		fmt.Fprintln(w, "No target sites: this gateway sends its site's writes nowhere.")
	} else {
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "SITE\tADDRESS\tBACKLOG\tLAG\tLAST ACK\tOUT-OF-SYNC PARTITIONS")
		for _, t := range st.Targets {
			fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\n", t.Site, t.Address, t.Backlog, lag(t.LagSeconds), ackTime(lastAck(t), now), partitions(t.OutOfSyncPartitions))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	for _, p := range st.Partitions {
		if p.Error == "" {
			continue
		}
		what := "partition " + strconv.Itoa(p.Partition)
		if p.Partition < 0 {
			what = "the partition map"
		}
		fmt.Fprintf(w, "! %s: not read: %s (its backlog is not in the sums above)\n", what, p.Error)
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "BATCHES SENT\tKEYS SENT\tBYTES SENT\tKEYS APPLIED\tERRORS")
	fmt.Fprintf(tw, "%d\t%d\t%s\t%d\t%d\n", st.Batches, st.Keys, byteSize(st.Bytes), st.Applied, st.Errors)
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w)
	if len(st.Repairs) == 0 {
		_, err := fmt.Fprintln(w, "No repairs (insightctl wan sync --target SITE starts one).")
		return err
	}
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "REPAIR\tTARGET\tSTATE\tSTARTED\tDURATION\tSLOTS COMPARED\tSLOTS DIFFERING\tKEYS SENT\tERROR")
	for _, r := range st.Repairs {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%d\t%d\t%d\t%s\n", r.ID, r.Target, r.State, dash(r.Started), repairDuration(r, now), r.SlotsCompared, r.SlotsDiffering, r.KeysSent, dash(r.Error))
	}
	return tw.Flush()
}

// lastAck is the wall time of t.OldestAckedHLC (48 bits of wall-clock milliseconds, then
// a 16-bit counter); the zero time when the site has never acknowledged anything.
func lastAck(t api.WANGatewayTarget) time.Time {
	if t.OldestAckedHLC == 0 {
		return time.Time{}
	}
	return time.UnixMilli(int64(t.OldestAckedHLC >> 16)).UTC()
}

// repairDuration is how long repair r ran (until now while it runs); "-" when its times
// do not parse.
func repairDuration(r api.WANRepair, now time.Time) string {
	start, err := time.Parse(time.RFC3339, r.Started)
	if err != nil {
		return "-"
	}
	end := now
	if r.Finished != "" {
		if end, err = time.Parse(time.RFC3339, r.Finished); err != nil {
			return "-"
		}
	}
	return roundDuration(end.Sub(start))
}

// lag formats the seconds the target is behind.
func lag(seconds float64) string {
	return roundDuration(time.Duration(seconds * float64(time.Second)))
}

// roundDuration is d to a precision that suits its size: 12ms, 3.4s, 5m7s.
func roundDuration(d time.Duration) string {
	switch {
	case d <= 0:
		return "0s"
	case d < time.Second:
		return d.Round(time.Millisecond).String()
	case d < time.Minute:
		return d.Round(100 * time.Millisecond).String()
	}
	return d.Round(time.Second).String()
}

// ackTime is the last acknowledgement's time and age, "never" for none.
func ackTime(t, now time.Time) string {
	if t.IsZero() {
		return "never"
	}
	s := t.UTC().Format(time.RFC3339)
	if age := now.Sub(t); age >= time.Second {
		s += " (" + duration.HumanDuration(age) + " ago)"
	}
	return s
}

func partitions(ps []int) string {
	if len(ps) == 0 {
		return "none"
	}
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = strconv.Itoa(p)
	}
	return strings.Join(s, ",")
}

// byteSize is n in binary units: 512 B, 12.3 KiB.
func byteSize(n int64) string {
	const unit = 1024
	if n < unit {
		return strconv.FormatInt(n, 10) + " B"
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
