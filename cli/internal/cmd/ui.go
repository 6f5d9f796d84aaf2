package cmd

import (
	"github.com/spf13/cobra"

	"github.com/insightgrid/insight/cli/install"
	"github.com/insightgrid/insight/cli/ui"
)

func newUICmd(r *root) *cobra.Command {
	o := ui.Options{Release: install.DefaultName}
	c := &cobra.Command{
		Use:   "ui [RELEASE]",
		Short: "Open the grid's web UI through a proxy on 127.0.0.1 that adds the operator token",
		Long: `Reach the manager of RELEASE (default: ` + install.DefaultName + `) as the other commands do (the API
server's service proxy, else a port-forward to a manager pod trusting the release's CA, or
only --manager-url), listen on 127.0.0.1 (a free port unless --port) and print the URL of
the manager's web UI there. Every request through this proxy carries the operator token
read from the release's Secret, as kubectl proxy adds your credential: the browser holds
no token and needs to trust no certificate. The proxy refuses other hosts than
127.0.0.1/localhost, and actions that do not come from the UI's pages. It runs until
Ctrl-C. With manager.ui.readOnly the UI offers no action.

With --login-url (the https://host of manager.ui.ingress), start no proxy: print a one-time
login link of the UI there, signed with the operator token, and exit.`,
		Example: `  insightctl ui demo
  insightctl ui demo --port 8080
  insightctl ui demo --login-url https://insight.example.com
  insightctl ui --manager-url http://10.0.3.7:8090   # from the pod network`,
		Args: argsBad(cobra.MaximumNArgs(1)),
		RunE: func(c *cobra.Command, args []string) error {
			if len(args) == 1 {
				o.Release = args[0]
			}
			if err := o.Validate(); err != nil {
				return err
			}
			return ui.Run(c.Context(), r.deps(), o)
		},
	}
	addManagerFlags(c, nil, &o.ManagerURL)
	c.Flags().IntVar(&o.Port, "port", 0, "the port on 127.0.0.1 to serve the UI at (default: a free port)")
	c.Flags().StringVar(&o.LoginURL, "login-url", "", "print a one-time login link of the UI served at this URL (manager.ui.ingress) instead of proxying")
	return c
}
