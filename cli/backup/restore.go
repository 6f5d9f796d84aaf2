package backup

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/insightgrid/insight/cli/deps"
	"github.com/insightgrid/insight/cli/exit"
	"github.com/insightgrid/insight/grid/api"
)

// Report is what a restore did.
type Report struct {
	Release string `json:"release"`
	From    string `json:"from"`
	// Backup is the manifest's release and time.
	BackupRelease string `json:"backupRelease"`
	BackupTime    string `json:"backupTime"`
	// Keys counts the keys written; ByPartition per target partition.
	Keys        uint64         `json:"keys"`
	ByPartition map[int]uint64 `json:"byPartition"`
	// Libraries names the function libraries loaded on every primary, sorted.
	Libraries []string `json:"libraries,omitempty"`
}

// Restore restores the backup at o.Location into the release's grid and prints what it
// did.
func Restore(ctx context.Context, d *deps.Deps, o Options) error {
	var rep *Report
	st, err := o.run(ctx, d, func(ctx context.Context, c *api.Client, st Store) (err error) {
		rep, err = Put(ctx, c, st, o.Release, d.IO.ErrOut)
		return err
	})
	if err != nil {
		return err
	}
	if done, err := d.IO.Print(rep); done {
		return err
	}
	_, err = fmt.Fprintf(d.IO.Out, "restored %d keys of %s (backup of %s at %s) into %s\n", rep.Keys, st, rep.BackupRelease, rep.BackupTime, o.Release)
	if err == nil && len(rep.Libraries) > 0 {
		_, err = fmt.Fprintf(d.IO.Out, "loaded %d function libraries on every primary: %s\n", len(rep.Libraries), strings.Join(rep.Libraries, ", "))
	}
	return err
}

// Put checks the backup in st whole (the manifest, every file's size and SHA-256, the
// function libraries of all files agreeing), then that the grid holds no key, and only
// then loads the libraries on every primary (which refuses a grid holding any) and
// restores the files one after the other.
func Put(ctx context.Context, c *api.Client, st Store, release string, progress io.Writer) (*Report, error) {
	m, err := ReadManifest(ctx, st)
	if err != nil {
		return nil, err
	}
	for _, p := range m.Partitions {
		if err := verify(ctx, st, p); err != nil {
			return nil, exit.BadInputError(err)
		}
	}
	libs := libraries{}
	withLibs := map[string]bool{} // the files holding a record of function libraries
	for _, p := range m.Partitions {
		found, err := headLibraries(ctx, c, st, p)
		if err != nil {
			return nil, err
		}
		withLibs[p.File] = len(found) > 0
		if err := libs.add(st, p.File, found); err != nil {
			return nil, exit.BadInputError(err)
		}
	}
	if err := empty(ctx, c, release); err != nil {
		return nil, err
	}
	rep := &Report{Release: release, From: st.String(), BackupRelease: m.Release, BackupTime: m.Time, ByPartition: map[int]uint64{}}
	if len(libs) > 0 {
		if _, err := c.RestoreFunctions(ctx, libs.codes()); err != nil {
			err = fmt.Errorf("loading the backup's %d function libraries on every primary of %s: %w", len(libs), release, err)
			var held *api.Error
			if errors.As(err, &held) && held.Status == http.StatusConflict && strings.Contains(held.Message, "holds function libraries") {
				err = exit.BadInputError(err) // as a release holding keys: nothing was written
			}
			return rep, err
		}
		rep.Libraries = libs.names()
		fmt.Fprintf(progress, "%d function libraries loaded on every primary\n", len(libs))
	}
	for _, p := range m.Partitions {
		start := time.Now()
		r, err := st.Open(ctx, p.File)
		if err != nil {
			return rep, fmt.Errorf("reading %s/%s: %w", st, p.File, err)
		}
		res, err := c.Restore(ctx, r)
		_ = r.Close()
		if err != nil {
			return rep, fmt.Errorf("restoring %s/%s (partition %d of the backup) after %d keys: %w", st, p.File, p.ID, rep.Keys, err)
		}
		want := p.Keys // the snapshot's records, its function libraries' one included
		if withLibs[p.File] {
			want--
		}
		if res.Keys != want {
			return rep, fmt.Errorf("restoring %s/%s: the grid restored %d keys, the manifest counts %d", st, p.File, res.Keys, want)
		}
		rep.Keys += res.Keys
		for tp, n := range res.ByPartition {
			rep.ByPartition[tp] += n
		}
		fmt.Fprintf(progress, "%s: %d keys restored (%s)\n", p.File, res.Keys, time.Since(start).Round(time.Millisecond))
	}
	return rep, nil
}

var (
	sha256Hex = regexp.MustCompile(`^[0-9a-f]{64}$`)
	fileName  = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)
)

// ReadManifest reads and checks the manifest of the backup in st.
func ReadManifest(ctx context.Context, st Store) (*api.Manifest, error) {
	r, err := st.Open(ctx, api.ManifestFile)
	if notExist(err) {
		return nil, exit.BadInputError(fmt.Errorf("%s holds no %s: not a backup, or one that did not complete (the manifest is written last)", st, api.ManifestFile))
	}
	if err != nil {
		return nil, fmt.Errorf("reading the manifest: %w", err)
	}
	defer r.Close()
	b, err := io.ReadAll(io.LimitReader(r, 16<<20))
	if err != nil {
		return nil, fmt.Errorf("reading %s/%s: %w", st, api.ManifestFile, err)
	}
	bad := func(format string, a ...any) error {
		return exit.BadInputError(fmt.Errorf("%s/%s: %s", st, api.ManifestFile, fmt.Sprintf(format, a...)))
	}
	var m api.Manifest
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return nil, bad("not a backup manifest: %v", err)
	}
	if m.Format != api.ManifestFormat {
		return nil, bad("format %d; this insightctl reads format %d", m.Format, api.ManifestFormat)
	}
	if len(m.Partitions) == 0 {
		return nil, bad("lists no partitions")
	}
	seen := map[string]bool{}
	for _, p := range m.Partitions {
		switch {
		case !fileName.MatchString(p.File) || path.Base(p.File) != p.File || p.File == api.ManifestFile:
			return nil, bad("partition %d: file %q is not a file name beside the manifest", p.ID, p.File)
		case seen[p.File]:
			return nil, bad("partition %d: file %q listed twice", p.ID, p.File)
		case !sha256Hex.MatchString(p.SHA256):
			return nil, bad("partition %d: sha256 %q is not 64 lowercase hex digits", p.ID, p.SHA256)
		case p.Bytes <= 0:
			return nil, bad("partition %d: bytes %d", p.ID, p.Bytes)
		}
		seen[p.File] = true
	}
	return &m, nil
}

// verify reads partition p's file whole and checks its size and SHA-256.
func verify(ctx context.Context, st Store, p api.PartitionSnapshot) error {
	r, err := st.Open(ctx, p.File)
	if notExist(err) {
		return fmt.Errorf("%s/%s (partition %d) is missing: the backup is damaged", st, p.File, p.ID)
	}
	if err != nil {
		return fmt.Errorf("reading %s/%s: %w", st, p.File, err)
	}
	defer r.Close()
	h := sha256.New()
	n, err := io.Copy(h, r)
	if err != nil {
		return fmt.Errorf("reading %s/%s: %w", st, p.File, err)
	}
	if sum := hex.EncodeToString(h.Sum(nil)); n != p.Bytes || sum != p.SHA256 {
		return fmt.Errorf("%s/%s (partition %d) is damaged: %d bytes with sha256 %s, the manifest says %d bytes with sha256 %s; nothing was restored",
			st, p.File, p.ID, n, sum, p.Bytes, p.SHA256)
	}
	return nil
}

// headLibraries asks the manager for the function libraries of partition p's file, from
// the file's head (the libraries are its first record); nothing is written.
func headLibraries(ctx context.Context, c *api.Client, st Store, p api.PartitionSnapshot) ([]api.Library, error) {
	r, err := st.Open(ctx, p.File)
	if err != nil {
		return nil, fmt.Errorf("reading %s/%s: %w", st, p.File, err)
	}
	defer r.Close()
	head, err := api.SnapshotHead(r)
	if err != nil {
		return nil, exit.BadInputError(fmt.Errorf("%s/%s (partition %d) is not a snapshot: %w; nothing was restored", st, p.File, p.ID, err))
	}
	libs, err := c.Libraries(ctx, head)
	if err != nil {
		var bad *api.Error
		if errors.As(err, &bad) && bad.Status == http.StatusBadRequest {
			return nil, exit.BadInputError(fmt.Errorf("%s/%s (partition %d) is damaged or not a snapshot: %w; nothing was restored", st, p.File, p.ID, err))
		}
		return nil, fmt.Errorf("reading the function libraries of %s/%s: %w", st, p.File, err)
	}
	return libs, nil
}

// library is one function library of a backup and the file it was first read from.
type library struct{ code, file string }

// libraries are a backup's function libraries by name: the same library in several files
// is one.
type libraries map[string]library

// add merges the libraries of file, refusing a library whose code differs from the one
// of the same name in another file.
func (l libraries) add(st Store, file string, found []api.Library) error {
	for _, lib := range found {
		name := lib.Name
		prev, ok := l[name]
		switch {
		case !ok:
			l[name] = library{code: lib.Code, file: file}
		case prev.code != lib.Code:
			return fmt.Errorf("function library %q differs between files %s and %s of %s: a restore loads one body of each library on every primary, so it cannot tell which to load; nothing was restored (load the right one with FUNCTION LOAD REPLACE on the source's every primary and back up again)",
				name, prev.file, file, st)
		}
	}
	return nil
}

// names are the libraries' names, sorted.
func (l libraries) names() []string {
	out := make([]string, 0, len(l))
	for name := range l {
		out = append(out, name)
	}
	sort.Strings(out)
	return out
}

// codes are the libraries' codes, in their names' order.
func (l libraries) codes() []string {
	var out []string
	for _, name := range l.names() {
		out = append(out, l[name].code)
	}
	return out
}

// empty refuses a grid whose primaries hold keys, naming how many and where.
func empty(ctx context.Context, c *api.Client, release string) error {
	parts, err := c.Partitions(ctx)
	if err != nil {
		return fmt.Errorf("reading %s's partitions: %w", release, err)
	}
	var total int64
	var where []string
	for _, p := range parts {
		for _, in := range p.Instances {
			if in.ID != p.Primary {
				continue
			}
			if in.Keys == nil {
				return fmt.Errorf("partition %d's primary %s did not report its keys to the manager: cannot tell whether %s is empty; retry once it is ready", p.ID, p.Primary, release)
			}
			if *in.Keys > 0 {
				total += *in.Keys
				where = append(where, fmt.Sprintf("partition %d: %d", p.ID, *in.Keys))
			}
		}
	}
	sort.Strings(where)
	if total > 0 {
		return exit.BadInputError(fmt.Errorf("%s holds %d keys (%s): restore writes into a new or empty release only, so that no key is overwritten or mixed with the backup's; restore into a new release, or empty this one (FLUSHALL on every primary) first",
			release, total, strings.Join(where, ", ")))
	}
	return nil
}
