package cmd

import (
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/insightgrid/insight/cli/install"
	"github.com/insightgrid/insight/values"
)

// valueFlags are the flags that say what to deploy, shared by install, upgrade, template
// and values validate.
type valueFlags struct {
	partitions int
	ha         bool
}

func addValueFlags(c *cobra.Command, p *install.Parameters, v *valueFlags) {
	f := c.Flags()
	f.StringVar(&p.ChartDir, "chart-dir", "", "use this chart directory or .tgz instead of the chart built into insightctl")
	f.StringVar(&p.Profile, "profile", "", "curated values profile: "+strings.Join(values.Names(), "|"))
	f.IntVar(&v.partitions, "partitions", 0, "number of grid partitions (pu.partitions; chart default 1)")
	f.BoolVar(&v.ha, "ha", false, "one backup per partition (pu.ha)")
	f.StringVar(&p.AntiAffinity, "anti-affinity", "", "keep a partition's primary and backup apart: "+strings.Join(install.AntiAffinityNames, "|")+" (alone: zone)")
	f.Lookup("anti-affinity").NoOptDefVal = "zone"
	f.StringVar(&p.Memory, "memory", "", "memory of each grid pod, request and limit (pu.resources), e.g. 1Gi")
	f.StringSliceVar(&p.Enable, "enable", nil, "add-ons to enable, comma-separated (e.g. prometheus)")
	f.StringArrayVarP(&p.ValueFiles, "values", "f", nil, "values file (YAML, '-' for stdin); may repeat, later files win")
	f.StringArrayVar(&p.Set, "set", nil, "set values on the command line (key1=val1,key2=val2), applied after -f")
	f.StringArrayVar(&p.SetString, "set-string", nil, "set STRING values on the command line, applied last")
	_ = c.RegisterFlagCompletionFunc("profile", cobra.FixedCompletions(values.Names(), cobra.ShellCompDirectiveNoFileComp))
	_ = c.RegisterFlagCompletionFunc("anti-affinity", cobra.FixedCompletions(install.AntiAffinityNames, cobra.ShellCompDirectiveNoFileComp))
}

// apply copies the friendly flags the user actually set into p.
func (v *valueFlags) apply(fs *pflag.FlagSet, p *install.Parameters) {
	if changed(fs, "partitions") {
		n := v.partitions
		p.Partitions = &n
	}
	if changed(fs, "ha") {
		b := v.ha
		p.HA = &b
	}
}
