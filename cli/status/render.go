package status

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// WriteTable prints the report for a human.
func WriteTable(w io.Writer, r *Report) error {
	rel := r.Release
	fmt.Fprintf(w, "NAME: %s\nNAMESPACE: %s\nSTATUS: %s\nREVISION: %d\nCHART: %s-%s\nAPP VERSION: %s\nLAST DEPLOYED: %s\n",
		rel.Name, rel.Namespace, rel.Status, rel.Revision, rel.Chart, rel.ChartVersion, rel.AppVersion, rel.Updated.UTC().Format(time.RFC3339))
	if r.ManagerReachable {
		fmt.Fprintln(w, "MANAGER: reachable")
	} else {
		fmt.Fprintf(w, "MANAGER: unreachable (%s); roles below are the preferred ones\n", r.ManagerError)
	}
	for _, warn := range r.Warnings {
		fmt.Fprintf(w, "!!! %s\n", warn)
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "PARTITION\tPRIMARY\tNODE\tZONE\tREADY\tBACKUP\tNODE\tZONE\tREADY\tIN SYNC\tKEYS")
	for _, p := range r.Partitions {
		cols := []string{fmt.Sprint(p.ID)}
		cols = append(cols, instanceCols(p.Primary)...)
		cols = append(cols, instanceCols(p.Backup)...)
		inSync := "?"
		if p.InSync != nil {
			inSync = yesNo(*p.InSync)
		}
		if p.Backup == nil {
			inSync = "-"
		}
		if p.TwoPrimaries {
			inSync = "TWO PRIMARIES"
		}
		var keys int64
		known := false
		if p.Primary != nil && p.Primary.Keys != nil {
			keys, known = *p.Primary.Keys, true
		}
		k := "?"
		if known {
			k = fmt.Sprint(keys)
		}
		cols = append(cols, inSync, k)
		fmt.Fprintln(tw, strings.Join(cols, "\t"))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(r.Managers) > 0 {
		fmt.Fprintln(w)
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "MANAGER\tNODE\tZONE\tREADY")
		for _, m := range r.Managers {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", m.Pod, dash(m.Node), dash(m.Zone), yesNo(m.Ready))
		}
		return tw.Flush()
	}
	return nil
}

func instanceCols(in *Instance) []string {
	if in == nil {
		return []string{"-", "-", "-", "-"}
	}
	return []string{in.Pod, dash(in.Node), dash(in.Zone), yesNo(in.Ready)}
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
