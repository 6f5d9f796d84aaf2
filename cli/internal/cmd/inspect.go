package cmd

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	"helm.sh/helm/v3/pkg/action"

	"github.com/insightgrid/insight/cli/install"
	"github.com/insightgrid/insight/cli/manager"
	"github.com/insightgrid/insight/cli/status"
	"github.com/insightgrid/insight/cli/validate"
	"github.com/insightgrid/insight/cli/version"
)

func newStatusCmd(r *root) *cobra.Command {
	var managerURL string
	c := &cobra.Command{
		Use:   "status [NAME]",
		Short: "Show a release: versions, every partition's primary and backup, the managers",
		Long: `Show the release (status, revision, chart and app versions), every partition (primary
and backup pod, node, zone, ready, in sync, keys) and the managers. The manager's own view
is read through the API server's service proxy, else a port-forward to a manager pod, or at
--manager-url; without it the roles shown are the preferred ones. A partition showing two
primaries is flagged loudly. -o json follows the schema in docs/cli.md.`,
		Args: argsBad(cobra.MaximumNArgs(1)),
		RunE: func(c *cobra.Command, args []string) error {
			if problems := manager.CheckURL(managerURL); len(problems) > 0 {
				return &validate.Error{Problems: problems}
			}
			name := nameArg(args)
			rel, err := action.NewStatus(r.clients.Helm).Run(name)
			if err != nil {
				return fmt.Errorf("release %s: %w", name, err)
			}
			s := install.Summarize(rel)
			kc := status.KubeCluster{Client: r.clients.Kube, Namespace: rel.Namespace, Release: name}
			kc.View.Client, kc.Err = r.managerClient(c.Context(), name, managerURL)
			rep, err := status.Collect(c.Context(), kc, status.Release{
				Name: s.Name, Namespace: s.Namespace, Status: s.Status, Revision: s.Revision,
				Chart: s.Chart, ChartVersion: s.ChartVersion, AppVersion: s.AppVersion, Updated: s.Updated,
			})
			if err != nil {
				return err
			}
			if done, err := r.io().Print(rep); done {
				return err
			}
			return status.WriteTable(r.env.Out, rep)
		},
	}
	addManagerFlags(c, nil, &managerURL)
	return c
}

func newTemplateCmd(r *root) *cobra.Command {
	var p install.Parameters
	var vf valueFlags
	c := &cobra.Command{
		Use:   "template [NAME]",
		Short: "Render the manifests locally, without a cluster (for GitOps)",
		Example: `  insightctl template --profile production > insight.yaml
  insightctl template demo --partitions 3 --ha -n grid
  insightctl template --enable prometheus --api-versions monitoring.coreos.com/v1/PodMonitor --api-versions monitoring.coreos.com/v1/PrometheusRule`,
		Args:        argsBad(cobra.MaximumNArgs(1)),
		Annotations: map[string]string{offline: ""},
		RunE: func(c *cobra.Command, args []string) error {
			p.Name, p.Namespace = nameArg(args), r.namespace()
			vf.apply(c.Flags(), &p)
			plan, err := p.Prepare(nil, r.env.In)
			if err != nil {
				return err
			}
			rel, err := install.Render(&p, plan, nil)
			if err != nil {
				return err
			}
			var b strings.Builder
			b.WriteString(rel.Manifest)
			for _, h := range rel.Hooks {
				fmt.Fprintf(&b, "---\n# Source: %s\n%s\n", h.Path, h.Manifest)
			}
			_, err = fmt.Fprint(r.env.Out, b.String())
			return err
		},
	}
	addValueFlags(c, &p, &vf)
	c.Flags().StringArrayVar(&p.APIVersions, "api-versions", nil, "an API version the cluster serves, as helm template's (e.g. monitoring.coreos.com/v1/PodMonitor with --enable prometheus); may repeat")
	return c
}

func newValuesCmd(r *root) *cobra.Command {
	c := &cobra.Command{
		Use:         "values",
		Short:       "Work with values without a cluster",
		Annotations: map[string]string{offline: ""},
	}
	var p install.Parameters
	var vf valueFlags
	v := &cobra.Command{
		Use:   "validate",
		Short: "Check values against the charts' schemas and rules; print the composed values",
		Long: `Compose the values exactly as install would (profile < friendly flags < -f < --set) and
check them against every chart's values.schema.json and the cross-field rules. Every
problem is reported, each with its key, the value given and what is allowed (exit code 2).
With -o yaml|json the composed values are printed, ready for -f.`,
		Example: `  insightctl values validate -f my-values.yaml
  insightctl values validate --profile ha --set pu.partitions=4 -o yaml`,
		Args: argsBad(cobra.NoArgs),
		RunE: func(c *cobra.Command, _ []string) error {
			p.Name, p.Namespace = install.DefaultName, r.namespace()
			vf.apply(c.Flags(), &p)
			plan, err := p.Prepare(nil, r.env.In)
			if err != nil {
				return err
			}
			if done, err := r.io().Print(plan.Values); done {
				return err
			}
			md := plan.Chart.Metadata
			_, err = fmt.Fprintf(r.env.Out, "values are valid for chart %s-%s\n", md.Name, md.Version)
			return err
		},
	}
	addValueFlags(v, &p, &vf)
	c.AddCommand(v)
	return c
}

func newVersionCmd(r *root) *cobra.Command {
	var client bool
	c := &cobra.Command{
		Use:   "version",
		Short: "Print the client version, and the cluster's unless --client",
		Args:  argsBad(cobra.NoArgs),
		RunE: func(c *cobra.Command, _ []string) error {
			type versions struct {
				Client version.Info `json:"client"`
				Server string       `json:"server,omitempty"`
			}
			v := versions{Client: version.Get()}
			if !client {
				sv, err := r.clients.Kube.Discovery().ServerVersion()
				if err != nil {
					return fmt.Errorf("server version: %w", err)
				}
				v.Server = sv.GitVersion
			}
			switch r.flags.Output {
			case "json", "yaml":
				_, err := r.io().Print(v)
				return err
			}
			fmt.Fprintf(r.env.Out, "Client: %s (%s, %s)\n", v.Client.Version, v.Client.GoVersion, v.Client.Platform)
			if !client {
				fmt.Fprintf(r.env.Out, "Server: %s\n", v.Server)
			}
			return nil
		},
	}
	c.Flags().BoolVar(&client, "client", false, "client version only; no cluster needed")
	return c
}
