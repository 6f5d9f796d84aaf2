// Package config parses insight-grid's command-line flags with environment fallbacks
// (every flag --some-name also reads INSIGHT_SOME_NAME; the flag wins) and byte sizes in
// Redis's notation. It must not depend on any role: each role declares its own flags.
package config

import (
	"errors"
	"flag"
	"fmt"
	"strconv"
	"strings"

	"github.com/insightgrid/insight/grid/api"
)

// EnvName is the environment variable read for flag name: "etcd-endpoints" →
// "INSIGHT_ETCD_ENDPOINTS".
func EnvName(name string) string {
	return "INSIGHT_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
}

// Parse parses args into fs, then sets every flag not given on the command line from its
// environment variable, if that is set. Errors name the flag or variable and the value.
func Parse(fs *flag.FlagSet, args []string, getenv func(string) string) error {
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q: %s takes flags only (see -h)", fs.Arg(0), fs.Name())
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	var errs []error
	fs.VisitAll(func(f *flag.Flag) {
		if given[f.Name] {
			return
		}
		env := EnvName(f.Name)
		v := getenv(env)
		if v == "" {
			return
		}
		if err := f.Value.Set(v); err != nil {
			errs = append(errs, fmt.Errorf("invalid value %q for %s (flag --%s): %w", v, env, f.Name, err))
		}
	})
	return errors.Join(errs...)
}

// Bytes is a flag.Value holding a size parsed with api.ParseBytes (Redis's notation).
type Bytes int64

func (b *Bytes) String() string { return strconv.FormatInt(int64(*b), 10) }

// Set parses s with api.ParseBytes.
func (b *Bytes) Set(s string) error {
	n, err := api.ParseBytes(s)
	if err != nil {
		return err
	}
	*b = Bytes(n)
	return nil
}
