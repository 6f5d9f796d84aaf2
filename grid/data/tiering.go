package data

import (
	"errors"
	"fmt"

	"github.com/insightgrid/insight/grid/tier"
)

// validateTiering checks the tiered storage's flags.
func (c *Config) validateTiering() []error {
	var errs []error
	if c.TieringMaxDisk < 0 {
		errs = append(errs, fmt.Errorf("--tiering-max-disk %d: must not be negative (0: no disk budget)", c.TieringMaxDisk))
	}
	if c.TieringDir == "" {
		if c.TieringMaxDisk > 0 {
			errs = append(errs, fmt.Errorf("--tiering-max-disk %d needs --tiering-dir: the directory on the instance's volume to keep cold values in", c.TieringMaxDisk))
		}
		return errs
	}
	if c.MaxMemory <= 0 {
		errs = append(errs, errors.New("--tiering-dir needs a RAM budget: give --maxmemory (or a memory limit it defaults from); values past it go to the disk"))
	}
	return errs
}

// openTier opens the tiered storage (in <TieringDir>/tier, so it may be --data-dir) (emptied: the journal is the source of truth) and
// lets the store spill to it past maxmemory, from the journal's replay on.
func (in *instance) openTier(cfg Config) (*tier.Tier, error) {
	t, err := tier.Open(cfg.TieringDir)
	if err != nil {
		return nil, fmt.Errorf("--tiering-dir %s: %w", cfg.TieringDir, err)
	}
	in.store.SetMaxMemory(cfg.MaxMemory)
	in.store.EnableTiering(t, cfg.TieringMaxDisk)
	cfg.Logger.Info("tiered storage on", "dir", cfg.TieringDir, "maxDisk", cfg.TieringMaxDisk, "ramBudget", cfg.MaxMemory,
		"lsmMemory", tier.Overhead)
	return t, nil
}

// closeTier stops spilling and removes the tier's files, once nothing is served.
func (in *instance) closeTier(t *tier.Tier) error {
	in.store.CloseTiering()
	if err := t.Close(); err != nil {
		return fmt.Errorf("--tiering-dir %s: %w", in.cfg.TieringDir, err)
	}
	return nil
}
