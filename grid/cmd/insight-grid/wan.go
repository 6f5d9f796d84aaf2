package main

import (
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/insightgrid/insight/grid/wan"
)

// wanFlags are the data role's WAN replication flags.
type wanFlags struct {
	site, targets, mode string
	outboxMax           int
	tombstoneTTL        time.Duration
	policies            listFlag
}

func wanDataFlags(fs *flag.FlagSet) *wanFlags {
	f := &wanFlags{}
	fs.StringVar(&f.site, "wan-site", "", "this grid's site name for WAN replication (a-z, 0-9, '-'); empty: WAN replication off, no per-key metadata kept")
	fs.StringVar(&f.targets, "wan-targets", "", "with --wan-site, the sites this one replicates its writes to, name[,name...]")
	fs.IntVar(&f.outboxMax, "wan-outbox-max", 100000, "with --wan-site, the most keys a partition's outbox holds for the in-sync target sites")
	fs.StringVar(&f.mode, "wan-outbox-full", string(wan.ModeBlock), "with --wan-site, what a full outbox does: block (write replies wait for room) or mark-out-of-sync (the slowest site is resynchronized from the key metadata)")
	fs.DurationVar(&f.tombstoneTTL, "wan-tombstone-ttl", 24*time.Hour, "with --wan-site, how long a deleted key's metadata is kept at least (after every site has it), so a late older write does not bring it back")
	fs.Var(&f.policies, "wan-policy", "with --wan-site, PATTERN=POLICY: how conflicting writes of the keys matching the glob PATTERN (as KEYS's) resolve, the first match winning and lww for keys none matches; POLICY one of lww, priority:SITE>SITE[>SITE...], pn-counter, add-wins, lua:FUNCTION (repeatable; every site must give the same, in the same order)")
	return f
}

// config is the WAN configuration the flags give, nil when WAN replication is off.
func (f *wanFlags) config() (*wan.Config, error) {
	if f.site == "" && f.targets == "" {
		if len(f.policies) > 0 {
			return nil, fmt.Errorf("--wan-policy given without --wan-site: policies are for WAN replication")
		}
		return nil, nil
	}
	rules, err := wan.ParseRules(f.policies)
	if err != nil {
		return nil, err
	}
	c := &wan.Config{Site: f.site, OutboxMax: f.outboxMax, Mode: wan.Mode(f.mode), TombstoneTTL: f.tombstoneTTL, Policies: rules}
	for _, t := range strings.Split(f.targets, ",") {
		if t = strings.TrimSpace(t); t != "" {
			c.Targets = append(c.Targets, t)
		}
	}
	return c, nil
}

// listFlag is a repeatable flag's values.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }

func (l *listFlag) Set(v string) error {
	*l = append(*l, v)
	return nil
}
