package cmd

import (
	"time"

	"github.com/spf13/cobra"

	"github.com/insightgrid/insight/cli/install"
	"github.com/insightgrid/insight/cli/wan"
)

func newWANCmd(r *root) *cobra.Command {
	c := &cobra.Command{
		Use:   "wan",
		Short: "Show a site's WAN replication and repair a target site",
		Long: `Work with the WAN gateway of a site (docs/wan.md): a release's (wanGateway.enabled),
reached through a port-forward to a gateway pod that trusts the release's CA and presents
its operator token, both read from the release's Secrets; or one given by its URL with
--gateway, --ca-file and --token-file (an insight-grid local --site site).`,
	}
	c.AddCommand(newWANStatusCmd(r), newWANSyncCmd(r))
	return c
}

// wanFlags binds the flags that say which gateway to reach, and sets o.Release from
// args (default: the default release unless --gateway).
func wanFlags(c *cobra.Command, o *wan.Options, timeout time.Duration) func(args []string) {
	f := c.Flags()
	f.StringVar(&o.Gateway, "gateway", "", "reach this gateway directly, https://HOST:PORT, instead of a release's (insight-grid local --site: its wan-gateway line)")
	f.StringVar(&o.CAFile, "ca-file", "", "with --gateway: the CA its certificate chains to (insight-grid local: DATADIR/tls/ca.crt)")
	f.StringVar(&o.TokenFile, "token-file", "", "with --gateway: the file holding its site's operator token (insight-grid local: DATADIR/operator-token)")
	f.DurationVar(&o.Timeout, "timeout", timeout, "how long the command may take")
	return func(args []string) {
		switch {
		case len(args) == 1:
			o.Release = args[0]
		case o.Gateway == "":
			o.Release = install.DefaultName
		}
	}
}

func newWANStatusCmd(r *root) *cobra.Command {
	var o wan.Options
	c := &cobra.Command{
		Use:   "status [RELEASE]",
		Short: "Show the gateway's target sites (backlog, lag, last acknowledgement, out-of-sync partitions), counters and repairs",
		Long: `Read the status of the WAN gateway of RELEASE (default: ` + install.DefaultName + `), or of the one at
--gateway, and show per target site its address, the keys written here it has not
acknowledged (BACKLOG), how far behind it is (LAG), the time of the oldest acknowledgement
over the partitions (LAST ACK) and the partitions whose outbox is being resynchronized;
then the gateway's counters and the running and recent repairs. -o json|yaml print the
gateway's status document whole (GET /v1/wan/status).`,
		Example: `  insightctl wan status london -n grid
  insightctl wan status -o json
  insightctl wan status --gateway https://127.0.0.1:7005 --ca-file /tmp/london/tls/ca.crt --token-file /tmp/london/operator-token`,
		Args:        argsBad(cobra.MaximumNArgs(1)),
		Annotations: map[string]string{offline: ""},
	}
	release := wanFlags(c, &o, 30*time.Second)
	c.RunE = func(c *cobra.Command, args []string) error {
		release(args)
		if err := o.Validate(); err != nil {
			return err
		}
		if o.NeedsCluster() {
			if err := r.connect(); err != nil {
				return err
			}
		}
		return wan.RunStatus(c.Context(), r.deps(), o)
	}
	return c
}

func newWANSyncCmd(r *root) *cobra.Command {
	var o wan.SyncOptions
	c := &cobra.Command{
		Use:   "sync [RELEASE] --target SITE",
		Short: "Repair a target site: compare its slots with this site's and send the keys of those that differ",
		Long: `Start a repair of the target site SITE at the WAN gateway of RELEASE (default: ` + install.DefaultName + `), or
of the one at --gateway (POST /v1/wan/sync): the gateway compares the slots of the two sites
and sends the keys of the differing ones. SITE must be one of the gateway's target sites
(insightctl wan status lists them). Only one repair of a site runs at a time: a second is
refused while one runs. With --wait, follow the repair until it is done, or failed (exit
code 1 with its error), or --timeout (exit code 4).`,
		Example: `  insightctl wan sync london --target paris --wait
  insightctl wan sync --gateway https://127.0.0.1:7005 --ca-file /tmp/london/tls/ca.crt --token-file /tmp/london/operator-token --target paris`,
		Args:        argsBad(cobra.MaximumNArgs(1)),
		Annotations: map[string]string{offline: ""},
	}
	release := wanFlags(c, &o.Options, 10*time.Minute)
	c.Flags().StringVar(&o.Target, "target", "", "the site to repair, one of the gateway's target sites (required)")
	c.Flags().BoolVar(&o.Wait, "wait", false, "follow the repair until it is done or failed, or --timeout")
	c.RunE = func(c *cobra.Command, args []string) error {
		release(args)
		if err := o.Validate(); err != nil {
			return err
		}
		if o.NeedsCluster() {
			if err := r.connect(); err != nil {
				return err
			}
		}
		return wan.RunSync(c.Context(), r.deps(), o)
	}
	return c
}
