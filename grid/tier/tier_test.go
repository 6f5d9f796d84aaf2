package tier

import (
	"os"
	"path/filepath"
	"testing"
)

func TestOpenEmptiesWhatAnEarlierRunLeft(t *testing.T) {
	dir := t.TempDir()
	tr, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := tr.Put([]byte("k"), []byte("old")); err != nil {
		t.Fatal(err)
	}
	// A process killed without Close leaves its files: the next start must not serve them.
	if err := tr.db.Close(); err != nil {
		t.Fatal(err)
	}
	tr.cache.Unref()
	journal := filepath.Join(dir, "journal-1.aof")
	if err := os.WriteFile(journal, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	tr, err = Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if v, err := tr.Get(nil, []byte("k")); err == nil {
		t.Fatalf("a value from the earlier run came back: %q", v)
	}
	if _, err := os.Stat(journal); err != nil {
		t.Fatalf("Open touched the directory's other files: %v", err)
	}
	if err := tr.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, subdir)); !os.IsNotExist(err) {
		t.Fatalf("Close left the tier's files: %v", err)
	}
}

func TestPutGetDelete(t *testing.T) {
	tr, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := tr.Close(); err != nil {
			t.Error(err)
		}
	}()
	if err := tr.Put([]byte("a"), []byte("1")); err != nil {
		t.Fatal(err)
	}
	if err := tr.Put([]byte("a"), []byte("22")); err != nil {
		t.Fatal(err)
	}
	v, err := tr.Get([]byte("prefix:"), []byte("a"))
	if err != nil || string(v) != "prefix:22" {
		t.Fatalf("Get = %q, %v", v, err)
	}
	if err := tr.Delete([]byte("a")); err != nil {
		t.Fatal(err)
	}
	if v, err := tr.Get(nil, []byte("a")); err == nil {
		t.Fatalf("Get after Delete = %q", v)
	}
	if tr.DiskBytes() < 0 {
		t.Fatalf("DiskBytes %d", tr.DiskBytes())
	}
}

func TestOpenWithoutADirectory(t *testing.T) {
	if _, err := Open(""); err == nil {
		t.Fatal("Open(\"\") succeeded")
	}
	f := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(f, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(f); err == nil {
		t.Fatalf("Open of a regular file %s succeeded", f)
	}
}
