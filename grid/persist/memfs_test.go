package persist

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"sort"
	"strings"
	"sync"
)

// strictFS is an in-memory FS that keeps, for a crash, only what was made durable: a
// file's bytes up to its last Sync, and the directory entries as of the last SyncDir
// (a created or renamed file is lost without one), as a power loss does. Crash returns
// the file system a machine would find after it; the crashed one refuses everything.
type strictFS struct {
	mu      sync.Mutex
	names   map[string]*memNode // the directory as it is
	durable map[string]*memNode // the directory as of the last SyncDir
	crashed bool
}

type memNode struct {
	data, synced []byte
}

var errCrashed = errors.New("the machine lost power")

func newStrictFS() *strictFS {
	return &strictFS{names: map[string]*memNode{}, durable: map[string]*memNode{}}
}

// Crash returns what a power loss leaves: synced bytes of the durably named files.
func (m *strictFS) Crash() *strictFS {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.crashed = true
	after := newStrictFS()
	for name, n := range m.durable {
		c := &memNode{data: bytes.Clone(n.synced), synced: bytes.Clone(n.synced)}
		after.names[name], after.durable[name] = c, c
	}
	return after
}

func (m *strictFS) MkdirAll(string) error { return nil }

func (m *strictFS) List(dir string) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.crashed {
		return nil, errCrashed
	}
	var out []string
	for name := range m.names {
		if filepath.Dir(name) == filepath.Clean(dir) {
			out = append(out, filepath.Base(name))
		}
	}
	sort.Strings(out)
	return out, nil
}

func (m *strictFS) node(name string) (*memNode, error) {
	if m.crashed {
		return nil, errCrashed
	}
	n, ok := m.names[name]
	if !ok {
		return nil, fmt.Errorf("%s: no such file", name)
	}
	return n, nil
}

func (m *strictFS) Size(name string) (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n, err := m.node(name)
	if err != nil {
		return 0, err
	}
	return int64(len(n.data)), nil
}

func (m *strictFS) Open(name string) (io.ReadCloser, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n, err := m.node(name)
	if err != nil {
		return nil, err
	}
	return io.NopCloser(bytes.NewReader(bytes.Clone(n.data))), nil
}

func (m *strictFS) Append(name string) (File, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.crashed {
		return nil, errCrashed
	}
	n, ok := m.names[name]
	if !ok {
		n = &memNode{}
		m.names[name] = n
	}
	return &memFile{fs: m, n: n}, nil
}

func (m *strictFS) Create(name string) (File, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.crashed {
		return nil, errCrashed
	}
	n := &memNode{}
	m.names[name] = n
	return &memFile{fs: m, n: n}, nil
}

func (m *strictFS) Truncate(name string, size int64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	n, err := m.node(name)
	if err != nil {
		return err
	}
	n.data = n.data[:size]
	n.synced = bytes.Clone(n.data)
	return nil
}

func (m *strictFS) Rename(oldname, newname string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	n, err := m.node(oldname)
	if err != nil {
		return err
	}
	delete(m.names, oldname)
	m.names[newname] = n
	return nil
}

func (m *strictFS) Remove(name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, err := m.node(name); err != nil {
		return err
	}
	delete(m.names, name)
	return nil
}

func (m *strictFS) SyncDir(dir string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.crashed {
		return errCrashed
	}
	for name := range m.durable {
		if filepath.Dir(name) == filepath.Clean(dir) {
			delete(m.durable, name)
		}
	}
	for name, n := range m.names {
		if filepath.Dir(name) == filepath.Clean(dir) {
			m.durable[name] = n
		}
	}
	return nil
}

// names lists the directory's files, for assertions.
func (m *strictFS) files() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []string
	for name := range m.names {
		out = append(out, filepath.Base(name))
	}
	sort.Strings(out)
	return strings.Join(out, " ")
}

type memFile struct {
	fs *strictFS
	n  *memNode
}

func (f *memFile) Write(p []byte) (int, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if f.fs.crashed {
		return 0, errCrashed
	}
	f.n.data = append(f.n.data, p...)
	return len(p), nil
}

func (f *memFile) Sync() error {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if f.fs.crashed {
		return errCrashed
	}
	f.n.synced = bytes.Clone(f.n.data)
	return nil
}

func (f *memFile) Close() error { return nil }
