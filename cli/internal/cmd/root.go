// Package cmd holds insightctl's cobra commands. Each command copies its flags into an
// options value or a domain package's Parameters, validates them without touching a
// cluster, and calls the domain packages (install, validate, preflight, progress, status,
// wizard, check) to do the work. Clients are built once, only for commands that need a cluster.
//
// It must not hold domain logic: what to install, check or show belongs to the domain
// packages.
package cmd

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"helm.sh/helm/v3/pkg/action"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/insightgrid/insight/cli/deps"
	"github.com/insightgrid/insight/cli/exit"
	"github.com/insightgrid/insight/cli/manager"
	"github.com/insightgrid/insight/cli/validate"
	"github.com/insightgrid/insight/grid/api"
)

// Env is the world a command runs in: its streams, terminal, environment and clients.
// main builds it from the process; tests build it with fakes.
type Env struct {
	In     io.Reader
	Out    io.Writer
	ErrOut io.Writer
	// Terminal says whether In and Out are a terminal (prompts and live views).
	Terminal bool
	Getenv   func(string) string
	Now      func() time.Time
	// Connect builds the clients for the global flags. nil: NewClients.
	Connect func(*GlobalFlags) (*Clients, error)
	// PollInterval is how often progress is refreshed (default 1s).
	PollInterval time.Duration
	// Manager says how to reach a release's manager; nil: manager.Kube with the clients
	// (--manager-url, else the API server's service proxy, else a port-forward).
	Manager func(c *Clients, namespace, release, url string) *manager.Reacher
}

// Clients are the cluster clients, built once per run.
type Clients struct {
	Helm *action.Configuration
	Kube kubernetes.Interface
	// REST is the API server connection the clientset uses; the manager is reached through
	// its service proxy or a port-forward. nil: neither (tests that do not need them).
	REST *rest.Config
	// Namespace is the namespace in effect: -n, else the kubeconfig context's.
	Namespace string
}

// GlobalFlags are the kubectl/helm-style flags every command takes.
type GlobalFlags struct {
	Kubeconfig string
	Context    string
	Namespace  string
	Output     string
}

// outputs are the values -o accepts.
var outputs = []string{"table", "json", "yaml"}

// root carries what the commands share.
type root struct {
	env     *Env
	flags   GlobalFlags
	clients *Clients
}

// annotation marking the commands that need no cluster.
const offline = "insightctl/offline"

// NewRootCmd builds the command tree.
func NewRootCmd(env *Env) *cobra.Command {
	if env.Getenv == nil {
		env.Getenv = os.Getenv
	}
	if env.Now == nil {
		env.Now = time.Now
	}
	if env.Connect == nil {
		env.Connect = NewClients
	}
	if env.Manager == nil {
		env.Manager = func(c *Clients, namespace, release, url string) *manager.Reacher {
			return manager.Kube(c.Kube, c.REST, namespace, release, url)
		}
	}
	r := &root{env: env}
	cmd := &cobra.Command{
		Use:   "insightctl",
		Short: "Install and operate the Insight in-memory data grid on Kubernetes",
		Long: `insightctl installs, upgrades, inspects and removes the Insight in-memory data grid
on Kubernetes. The Helm charts are built into the binary, so it works air-gapped.`,
		SilenceErrors: true,
		SilenceUsage:  true,
		PersistentPreRunE: func(c *cobra.Command, _ []string) error {
			return r.preRun(c)
		},
	}
	cmd.SetIn(env.In)
	cmd.SetOut(env.Out)
	cmd.SetErr(env.ErrOut)
	cmd.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return exit.BadInputError(fmt.Errorf("%w\nSee '%s --help'", err, c.CommandPath()))
	})

	pf := cmd.PersistentFlags()
	pf.StringVar(&r.flags.Kubeconfig, "kubeconfig", "", "path to the kubeconfig file (default: $KUBECONFIG or ~/.kube/config)")
	pf.StringVar(&r.flags.Context, "context", "", "kubeconfig context to use")
	pf.StringVarP(&r.flags.Namespace, "namespace", "n", "", "namespace of the release (default: the context's namespace, else \"default\")")
	pf.StringVarP(&r.flags.Output, "output", "o", "table", "output format: "+strings.Join(outputs, "|"))
	_ = cmd.RegisterFlagCompletionFunc("output", cobra.FixedCompletions(outputs, cobra.ShellCompDirectiveNoFileComp))

	cmd.AddCommand(
		newInstallCmd(r),
		newUpgradeCmd(r),
		newRollbackCmd(r),
		newHistoryCmd(r),
		newUninstallCmd(r),
		newStatusCmd(r),
		newScaleCmd(r),
		newSubmitCmd(r),
		newDiffCmd(r),
		newSwitchCmd(r, "failover"),
		newSwitchCmd(r, "failback"),
		newCheckCmd(r),
		newUICmd(r),
		newBackupCmd(r, "backup"),
		newBackupCmd(r, "restore"),
		newWANCmd(r),
		newTemplateCmd(r),
		newValuesCmd(r),
		newVersionCmd(r),
	)
	return cmd
}

// preRun checks the global flags and builds the clients for commands that talk to a
// cluster. Building them reads the kubeconfig only; nothing contacts the cluster yet.
func (r *root) preRun(c *cobra.Command) error {
	if !contains(outputs, r.flags.Output) {
		return &validate.Error{Problems: []validate.Problem{{Key: "--output", Value: r.flags.Output, Message: "must be one of " + strings.Join(outputs, ", ")}}}
	}
	if needsNoCluster(c) {
		return nil
	}
	return r.connect()
}

func (r *root) connect() error {
	if r.clients != nil {
		return nil
	}
	cl, err := r.env.Connect(&r.flags)
	if err != nil {
		return fmt.Errorf("kubernetes client: %w", err)
	}
	r.clients = cl
	return nil
}

func needsNoCluster(c *cobra.Command) bool {
	for p := c; p != nil; p = p.Parent() {
		if _, ok := p.Annotations[offline]; ok {
			return true
		}
	}
	switch c.Name() {
	case "help", cobra.ShellCompRequestCmd, cobra.ShellCompNoDescRequestCmd:
		return true
	}
	if c.Parent() != nil && c.Parent().Name() == "completion" {
		return true
	}
	if c.Name() == "version" {
		client, _ := c.Flags().GetBool("client")
		return client
	}
	return false
}

// NewClients builds the Helm configuration and a Kubernetes clientset from the kubeconfig
// and the global flags, the way kubectl and helm read them.
func NewClients(g *GlobalFlags) (*Clients, error) {
	cf := genericclioptions.NewConfigFlags(true)
	cf.KubeConfig = &g.Kubeconfig
	cf.Context = &g.Context
	ns := g.Namespace
	if ns == "" {
		n, _, err := cf.ToRawKubeConfigLoader().Namespace()
		if err != nil {
			return nil, fmt.Errorf("namespace from kubeconfig: %w", err)
		}
		ns = n
	}
	cf.Namespace = &ns
	helmCfg := new(action.Configuration)
	driver := os.Getenv("HELM_DRIVER")
	if err := helmCfg.Init(cf, ns, driver, func(string, ...any) {}); err != nil {
		return nil, fmt.Errorf("helm configuration: %w", err)
	}
	rc, err := cf.ToRESTConfig()
	if err != nil {
		return nil, fmt.Errorf("kubeconfig: %w", err)
	}
	kc, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return nil, fmt.Errorf("kubernetes clientset: %w", err)
	}
	return &Clients{Helm: helmCfg, Kube: kc, REST: rc, Namespace: ns}, nil
}

// namespace is the namespace for commands that may run without clients.
func (r *root) namespace() string {
	switch {
	case r.flags.Namespace != "":
		return r.flags.Namespace
	case r.clients != nil:
		return r.clients.Namespace
	}
	return "default"
}

// deps is the dependency set the workflows run with.
func (r *root) deps() *deps.Deps {
	d := &deps.Deps{
		Namespace: r.namespace(), Manager: r.managerClient, IO: r.io(),
		Now: r.env.Now, PollInterval: r.env.PollInterval,
	}
	if r.clients != nil { // commands that need no cluster have none
		d.Helm, d.Kube = r.clients.Helm, r.clients.Kube
		rc := r.clients.REST
		d.Forward = func(ctx context.Context, namespace, pod string, port int) (int, func(), error) {
			return manager.ForwardPort(ctx, rc, namespace, pod, port)
		}
	}
	return d
}

// io are the streams and -o.
func (r *root) io() deps.IO {
	return deps.IO{In: r.env.In, Out: r.env.Out, ErrOut: r.env.ErrOut, Terminal: r.env.Terminal, Output: r.flags.Output}
}

// managerClient reaches the release's manager: at --manager-url only when given, else
// through the API server's service proxy (time-boxed), else a port-forward to a manager
// pod, which ends with ctx.
func (r *root) managerClient(ctx context.Context, release, managerURL string) (*api.Client, error) {
	c, _, err := r.env.Manager(r.clients, r.namespace(), release, managerURL).Reach(ctx)
	if api.IsUnreachable(err) {
		err = fmt.Errorf("%w\n%s", err, manager.Hint)
	}
	return c, err
}

// Execute runs the command line and returns the exit code, having printed any error.
func Execute(ctx context.Context, env *Env, args []string) int {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // ends the port-forwards a command opened
	cmd := NewRootCmd(env)
	cmd.SetArgs(args)
	err := cmd.ExecuteContext(ctx)
	if err != nil {
		// Cobra's own argument errors (unknown command, wrong arg count) are bad input too.
		if exit.Code(err) == exit.Failure && isUsageError(err) {
			err = exit.BadInputError(err)
		}
		if !exit.Quiet(err) {
			fmt.Fprintf(env.ErrOut, "Error: %v\n", err)
		}
	}
	return exit.Code(err)
}

// isUsageError recognises cobra's unknown-command error, which has no type of its own.
func isUsageError(err error) bool {
	return strings.HasPrefix(err.Error(), "unknown command")
}

// argsBad makes a cobra argument check's failure bad input (exit code 2).
func argsBad(check cobra.PositionalArgs) cobra.PositionalArgs {
	return func(c *cobra.Command, args []string) error {
		if err := check(c, args); err != nil {
			return exit.BadInputError(fmt.Errorf("%w; usage: %s", err, c.UseLine()))
		}
		return nil
	}
}

func contains(list []string, s string) bool {
	for _, l := range list {
		if l == s {
			return true
		}
	}
	return false
}

// changed reports whether the user set a flag, so defaults never override a profile.
func changed(fs *pflag.FlagSet, name string) bool {
	f := fs.Lookup(name)
	return f != nil && f.Changed
}
