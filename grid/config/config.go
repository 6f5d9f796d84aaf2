// Package config parses insight-grid's command-line flags with environment fallbacks
// (every flag --some-name also reads INSIGHT_SOME_NAME; the flag wins), byte sizes in
// Redis's notation, and the memory limit a process runs under. It must not depend on any
// role: each role declares its own flags.
package config

import (
	"errors"
	"flag"
	"fmt"
	"math"
	"strconv"
	"strings"
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

// ParseBytes parses a size the way redis.conf does: a plain number of bytes, or with a
// unit: k/m/g (powers of 1000) or kb/mb/gb (powers of 1024), any case. Kubernetes-style
// Ki/Mi/Gi are accepted too, since values often come from a chart.
func ParseBytes(s string) (int64, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	units := []struct {
		suffix string
		mult   int64
	}{
		{"kib", 1 << 10}, {"mib", 1 << 20}, {"gib", 1 << 30},
		{"ki", 1 << 10}, {"mi", 1 << 20}, {"gi", 1 << 30},
		{"kb", 1 << 10}, {"mb", 1 << 20}, {"gb", 1 << 30},
		{"k", 1000}, {"m", 1000 * 1000}, {"g", 1000 * 1000 * 1000}, {"b", 1},
	}
	mult := int64(1)
	for _, u := range units {
		if strings.HasSuffix(t, u.suffix) {
			t, mult = strings.TrimSuffix(t, u.suffix), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(strings.TrimSpace(t), 10, 64)
	if err != nil || n < 0 || n > math.MaxInt64/mult {
		return 0, fmt.Errorf("size %q: want a non-negative number of bytes, optionally with a unit (k, kb, m, mb, g, gb, Ki, Mi, Gi)", s)
	}
	return n * mult, nil
}

// Bytes is a flag.Value holding a size parsed with ParseBytes.
type Bytes int64

func (b *Bytes) String() string { return strconv.FormatInt(int64(*b), 10) }

// Set parses s with ParseBytes.
func (b *Bytes) Set(s string) error {
	n, err := ParseBytes(s)
	if err != nil {
		return err
	}
	*b = Bytes(n)
	return nil
}
