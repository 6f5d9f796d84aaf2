// Package backup runs insightctl's backup and restore of a grid through its manager: the
// backup writes one snapshot per partition (taken at the partition's primary, streamed
// through the manager) and then a manifest (api.Manifest) to a directory or an
// S3-compatible bucket; the restore checks every file against the manifest's SHA-256
// before it writes anything, refuses a grid that holds keys, and has the manager write
// every key to the partition owning its slot, so the target may have another partition
// count. Both need the operator token: a snapshot is all of the grid's data.
//
// It must not depend on cobra, nor on the grid's server packages (only grid/api).
package backup

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/insightgrid/insight/cli/deps"
	"github.com/insightgrid/insight/cli/exit"
	"github.com/insightgrid/insight/cli/manager"
	"github.com/insightgrid/insight/cli/validate"
	"github.com/insightgrid/insight/grid/api"
)

// Options are a backup's or a restore's parameters.
type Options struct {
	// Release is the RELEASE argument: the release backed up, or restored into.
	Release string
	// Location is --to (backup) or --from (restore); LocationFlag names it.
	Location, LocationFlag string
	S3                     S3Options
	ManagerURL             string
	// TokenFile is --operator-token-file: the operator token read from a file (with
	// --manager-url, no Kubernetes access is needed: insight-grid local prints the file).
	TokenFile string
	Timeout   time.Duration
	// Getenv reads the environment (the AWS variables); nil: os.Getenv.
	Getenv func(string) string
}

// Validate checks the options without a cluster or a store.
func (o Options) Validate() error {
	var problems []validate.Problem
	if o.Release == "" {
		problems = append(problems, validate.Problem{Key: "RELEASE", Message: "name the release (or grid) to act on"})
	}
	if _, err := ParseLocation(o.LocationFlag, o.Location); err != nil {
		problems = append(problems, validate.Problem{Key: o.LocationFlag, Value: o.Location, Message: strings.TrimPrefix(err.Error(), fmt.Sprintf("%s %q: ", o.LocationFlag, o.Location))})
	}
	if err := o.S3.Validate(); err != nil {
		problems = append(problems, validate.Problem{Key: "--s3-endpoint", Value: o.S3.Endpoint, Message: "want the store's URL, http(s)://host[:port]"})
	}
	problems = append(problems, manager.CheckURL(o.ManagerURL)...)
	if o.TokenFile != "" && o.ManagerURL == "" {
		problems = append(problems, validate.Problem{Key: "--operator-token-file", Value: o.TokenFile, Message: "goes with --manager-url (without it the token is read from the release's Secret)"})
	}
	if o.Timeout <= 0 {
		problems = append(problems, validate.Problem{Key: "--timeout", Value: o.Timeout.String(), Message: "must be positive, e.g. 1h"})
	}
	if len(problems) > 0 {
		return &validate.Error{Problems: problems}
	}
	return nil
}

// NeedsCluster reports whether the options reach the manager with the user's kube
// credentials (no --manager-url with --operator-token-file).
func (o Options) NeedsCluster() bool { return o.ManagerURL == "" || o.TokenFile == "" }

func (o Options) getenv(k string) string {
	if o.Getenv != nil {
		return o.Getenv(k)
	}
	return os.Getenv(k)
}

// store opens the location.
func (o Options) store() (Store, error) {
	loc, err := ParseLocation(o.LocationFlag, o.Location)
	if err != nil {
		return nil, exit.BadInputError(err)
	}
	if loc.Scheme == SchemeS3 {
		st, err := NewS3Store(loc, o.S3, o.getenv)
		if err != nil {
			return nil, exit.BadInputError(err)
		}
		return st, nil
	}
	return NewDirStore(loc.Dir), nil
}

// client reaches the manager: at --manager-url with the token of --operator-token-file,
// else as every command does (docs/cli.md, "Reaching the manager").
func (o Options) client(ctx context.Context, d *deps.Deps) (*api.Client, error) {
	if o.NeedsCluster() {
		c, err := d.Manager(ctx, o.Release, o.ManagerURL)
		if err != nil {
			return nil, fmt.Errorf("cannot reach the manager: %w", err)
		}
		return c, nil
	}
	base, err := api.ParseURL(o.ManagerURL)
	if err != nil {
		return nil, exit.BadInputError(fmt.Errorf("--manager-url %q: %w", o.ManagerURL, err))
	}
	c := api.NewClient(base, nil)
	file := o.TokenFile
	c.Token = func() (string, error) {
		b, err := os.ReadFile(file)
		if err != nil {
			return "", fmt.Errorf("--operator-token-file: %w", err)
		}
		return strings.TrimSpace(string(b)), nil
	}
	return c, nil
}

// run opens o's store and the manager's client and calls f with them within --timeout,
// which a deadline reached names; it returns the store for the summary.
func (o Options) run(ctx context.Context, d *deps.Deps, f func(context.Context, *api.Client, Store) error) (Store, error) {
	st, err := o.store()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	c, err := o.client(ctx, d)
	if err != nil {
		return nil, err
	}
	if err := f(ctx, c, st); err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return nil, exit.TimeoutError(fmt.Errorf("%w (--timeout %s)", err, o.Timeout))
		}
		return nil, err
	}
	return st, nil
}

// SnapshotFile is partition p's file name in a backup.
func SnapshotFile(p int) string { return fmt.Sprintf("partition-%05d.snap", p) }

// Backup takes a backup of the release's grid into o.Location and prints its manifest.
func Backup(ctx context.Context, d *deps.Deps, o Options) error {
	var m *api.Manifest
	st, err := o.run(ctx, d, func(ctx context.Context, c *api.Client, st Store) (err error) {
		m, err = Take(ctx, c, st, o.Release, d.Now(), d.IO.ErrOut)
		return err
	})
	if err != nil {
		return err
	}
	if done, err := d.IO.Print(m); done {
		return err
	}
	var keys uint64
	var size int64
	for _, p := range m.Partitions {
		keys += p.Keys
		size += p.Bytes
	}
	_, err = fmt.Fprintf(d.IO.Out, "backup of %s written to %s: %d partitions, %d keys, %d bytes\n", o.Release, st, len(m.Partitions), keys, size)
	return err
}

// Take writes every partition's snapshot to st, then the manifest, and returns it. A
// location that holds a manifest already is refused: a backup is never overwritten.
func Take(ctx context.Context, c *api.Client, st Store, release string, now time.Time, progress io.Writer) (*api.Manifest, error) {
	if r, err := st.Open(ctx, api.ManifestFile); err == nil {
		_ = r.Close()
		return nil, exit.BadInputError(fmt.Errorf("%s already holds a backup (%s): choose a new location, a backup is never overwritten", st, api.ManifestFile))
	} else if !notExist(err) {
		return nil, fmt.Errorf("looking for %s in %s: %w", api.ManifestFile, st, err)
	}
	cl, err := c.Cluster(ctx)
	if err != nil {
		return nil, fmt.Errorf("reading the grid's shape: %w", err)
	}
	parts, err := c.Partitions(ctx)
	if err != nil {
		return nil, fmt.Errorf("reading the grid's partitions: %w", err)
	}
	m := &api.Manifest{Format: api.ManifestFormat, Release: release, Time: now.UTC().Format(time.RFC3339), GridVersion: cl.Version}
	for _, p := range parts {
		start := time.Now()
		ps, err := snapshot(ctx, c, st, p)
		if err != nil {
			return nil, err
		}
		m.Partitions = append(m.Partitions, ps)
		fmt.Fprintf(progress, "partition %d: %d keys, %d bytes, epoch %d, sequence %d-%d (%s)\n",
			p.ID, ps.Keys, ps.Bytes, ps.Epoch, ps.Seq, ps.SeqEnd, time.Since(start).Round(time.Millisecond))
	}
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encoding the manifest: %w", err)
	}
	obj, err := st.Create(ctx, api.ManifestFile)
	if err != nil {
		return nil, err
	}
	if _, err := obj.Write(append(b, '\n')); err != nil {
		obj.Abort()
		return nil, fmt.Errorf("writing the manifest: %w", err)
	}
	if err := obj.Commit(ctx); err != nil {
		return nil, err
	}
	return m, nil
}

// snapshot writes partition p's snapshot to its file.
func snapshot(ctx context.Context, c *api.Client, st Store, p api.Partition) (api.PartitionSnapshot, error) {
	name := SnapshotFile(p.ID)
	obj, err := st.Create(ctx, name)
	if err != nil {
		return api.PartitionSnapshot{}, err
	}
	h := sha256.New()
	cw := &counter{}
	info, err := c.Snapshot(ctx, p.ID, io.MultiWriter(obj, h, cw))
	if err != nil {
		obj.Abort()
		return api.PartitionSnapshot{}, fmt.Errorf("snapshot of partition %d: %w", p.ID, err)
	}
	if err := obj.Commit(ctx); err != nil {
		return api.PartitionSnapshot{}, err
	}
	return api.PartitionSnapshot{
		ID: p.ID, File: name, Slots: p.Slots, Epoch: info.Epoch, Seq: info.Seq, SeqEnd: info.SeqEnd,
		Keys: info.Keys, Bytes: cw.n, SHA256: hex.EncodeToString(h.Sum(nil)),
	}, nil
}

type counter struct{ n int64 }

func (c *counter) Write(p []byte) (int, error) { c.n += int64(len(p)); return len(p), nil }
