package cmd

import (
	"fmt"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"helm.sh/helm/v3/pkg/action"

	"github.com/insightgrid/insight/cli/exit"
	"github.com/insightgrid/insight/cli/install"
	"github.com/insightgrid/insight/cli/validate"
)

func nameArg(args []string) string {
	if len(args) > 0 {
		return args[0]
	}
	return install.DefaultName
}

func newRollbackCmd(r *root) *cobra.Command {
	var wait bool
	var timeout time.Duration
	c := &cobra.Command{
		Use:   "rollback [NAME] [REVISION]",
		Short: "Roll a release back to an earlier revision (default: the previous one)",
		Args:  argsBad(cobra.MaximumNArgs(2)),
		RunE: func(c *cobra.Command, args []string) error {
			a := action.NewRollback(r.clients.Helm)
			a.Wait, a.Timeout = wait, timeout
			if len(args) == 2 {
				v, err := strconv.Atoi(args[1])
				if err != nil || v < 1 {
					return &validate.Error{Problems: []validate.Problem{{Key: "REVISION", Value: args[1], Message: "must be a revision number from 'insightctl history'"}}}
				}
				a.Version = v
			}
			name := nameArg(args)
			if err := a.Run(name); err != nil {
				if install.IsTimeout(err) {
					return exit.TimeoutError(fmt.Errorf("rollback %s: %w", name, err))
				}
				return fmt.Errorf("rollback %s: %w", name, err)
			}
			rel, err := action.NewGet(r.clients.Helm).Run(name)
			if err != nil {
				return fmt.Errorf("read %s after rollback: %w", name, err)
			}
			s := install.Summarize(rel)
			if done, err := r.io().Print(s); done {
				return err
			}
			fmt.Fprintf(r.env.Out, "Rolled %s back; now at revision %d (%s)\n", name, s.Revision, s.Status)
			return nil
		},
	}
	c.Flags().BoolVar(&wait, "wait", true, "wait until every pod is ready")
	c.Flags().DurationVar(&timeout, "timeout", 5*time.Minute, "how long to wait")
	return c
}

// historyEntry is one revision in `history -o json|yaml`.
type historyEntry struct {
	Revision    int       `json:"revision"`
	Updated     time.Time `json:"updated"`
	Status      string    `json:"status"`
	Chart       string    `json:"chart"`
	AppVersion  string    `json:"appVersion"`
	Description string    `json:"description"`
}

func newHistoryCmd(r *root) *cobra.Command {
	var max int
	c := &cobra.Command{
		Use:   "history [NAME]",
		Short: "List a release's revisions",
		Args:  argsBad(cobra.MaximumNArgs(1)),
		RunE: func(c *cobra.Command, args []string) error {
			a := action.NewHistory(r.clients.Helm)
			a.Max = max
			rels, err := a.Run(nameArg(args))
			if err != nil {
				return fmt.Errorf("history of %s: %w", nameArg(args), err)
			}
			entries := []historyEntry{}
			for _, rel := range rels {
				s := install.Summarize(rel)
				e := historyEntry{Revision: s.Revision, Updated: s.Updated, Status: s.Status, Chart: s.Chart + "-" + s.ChartVersion, AppVersion: s.AppVersion}
				if rel.Info != nil {
					e.Description = rel.Info.Description
				}
				entries = append(entries, e)
			}
			if done, err := r.io().Print(entries); done {
				return err
			}
			tw := tabwriter.NewWriter(r.env.Out, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "REVISION\tUPDATED\tSTATUS\tCHART\tAPP VERSION\tDESCRIPTION")
			for _, e := range entries {
				fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\n", e.Revision, e.Updated.UTC().Format(time.RFC3339), e.Status, e.Chart, e.AppVersion, e.Description)
			}
			return tw.Flush()
		},
	}
	c.Flags().IntVar(&max, "max", 256, "maximum number of revisions to show")
	return c
}

func newUninstallCmd(r *root) *cobra.Command {
	var deleteData, wait bool
	var timeout time.Duration
	c := &cobra.Command{
		Use:   "uninstall [NAME]",
		Short: "Remove a release; its data volumes stay unless --delete-data",
		Long: `Remove a release and everything it created. The PersistentVolumeClaims of the grid's
StatefulSets are not part of the release and stay, so a later install with the same name
finds its data again; --delete-data deletes them too (labelled
app.kubernetes.io/instance=NAME).`,
		Args: argsBad(cobra.MaximumNArgs(1)),
		RunE: func(c *cobra.Command, args []string) error {
			return install.Uninstall(c.Context(), r.deps(), install.UninstallOptions{Name: nameArg(args), DeleteData: deleteData, Wait: wait, Timeout: timeout})
		},
	}
	c.Flags().BoolVar(&deleteData, "delete-data", false, "also delete the release's PersistentVolumeClaims (its data)")
	c.Flags().BoolVar(&wait, "wait", false, "wait until the release's resources are gone")
	c.Flags().DurationVar(&timeout, "timeout", 5*time.Minute, "how long to wait")
	return c
}
