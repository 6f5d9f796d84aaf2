package backup

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// Store holds a backup's files.
type Store interface {
	// Create starts writing name: nothing is visible under name until Commit.
	Create(ctx context.Context, name string) (Object, error)
	// Open reads name; the error wraps fs.ErrNotExist when there is none.
	Open(ctx context.Context, name string) (io.ReadCloser, error)
	// String names the location for messages.
	String() string
}

// Object is a file being written.
type Object interface {
	io.Writer
	// Commit makes the file visible under its name, whole.
	Commit(ctx context.Context) error
	// Abort drops it; nothing is left.
	Abort()
}

// dirStore is a directory: a file is written beside its name, fsynced and renamed.
type dirStore struct{ dir string }

// NewDirStore is the directory dir (created when a file is first written).
func NewDirStore(dir string) Store { return &dirStore{dir: dir} }

func (d *dirStore) String() string { return d.dir }

func (d *dirStore) Create(_ context.Context, name string) (Object, error) {
	if err := os.MkdirAll(d.dir, 0o700); err != nil {
		return nil, fmt.Errorf("creating the backup directory: %w", err)
	}
	f, err := os.CreateTemp(d.dir, "."+name+".tmp-*")
	if err != nil {
		return nil, fmt.Errorf("creating %s: %w", filepath.Join(d.dir, name), err)
	}
	return &dirObject{f: f, path: filepath.Join(d.dir, name), dir: d.dir}, nil
}

func (d *dirStore) Open(_ context.Context, name string) (io.ReadCloser, error) {
	f, err := os.Open(filepath.Join(d.dir, name))
	if err != nil {
		return nil, err // *fs.PathError naming the file; wraps fs.ErrNotExist
	}
	return f, nil
}

type dirObject struct {
	f         *os.File
	path, dir string
}

func (o *dirObject) Write(p []byte) (int, error) { return o.f.Write(p) }

func (o *dirObject) Commit(context.Context) error {
	err := o.f.Sync()
	if cerr := o.f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(o.f.Name(), o.path)
	}
	if err != nil {
		_ = os.Remove(o.f.Name())
		return fmt.Errorf("writing %s: %w", o.path, err)
	}
	if d, err := os.Open(o.dir); err == nil {
		err = d.Sync()
		_ = d.Close()
		if err != nil {
			return fmt.Errorf("syncing %s: %w", o.dir, err)
		}
	}
	return nil
}

func (o *dirObject) Abort() {
	_ = o.f.Close()
	_ = os.Remove(o.f.Name())
}

// notExist reports whether err says a file is not there.
func notExist(err error) bool { return errors.Is(err, fs.ErrNotExist) }
