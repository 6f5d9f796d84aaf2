package backup

import (
	"fmt"
	"net/url"
	"path/filepath"
	"strings"
)

// Schemes a backup location may have.
const (
	SchemeFile = "file"
	SchemeS3   = "s3"
)

// Location is where a backup is: a directory, or a bucket and a key prefix of an
// S3-compatible object store.
type Location struct {
	Scheme string
	// Dir is the directory (file), absolute.
	Dir string
	// Bucket and Prefix (s3): the objects are Prefix + "/" + name ("" prefix: at the
	// bucket's root).
	Bucket, Prefix string
}

func (l Location) String() string {
	if l.Scheme == SchemeS3 {
		if l.Prefix == "" {
			return "s3://" + l.Bucket
		}
		return "s3://" + l.Bucket + "/" + l.Prefix
	}
	return l.Dir
}

// ParseLocation parses a location given by flag (--to, --from): file:///abs/path, a
// plain path (relative to the working directory), or s3://bucket[/prefix].
func ParseLocation(flag, raw string) (Location, error) {
	bad := func(why string) (Location, error) {
		return Location{}, fmt.Errorf("%s %q: %s; want a directory (/backups/demo, file:///backups/demo) or s3://bucket/prefix", flag, raw, why)
	}
	s := strings.TrimSpace(raw)
	if s == "" {
		return bad("empty")
	}
	if !strings.Contains(s, "://") {
		abs, err := filepath.Abs(s)
		if err != nil {
			return bad(err.Error())
		}
		return Location{Scheme: SchemeFile, Dir: abs}, nil
	}
	u, err := url.Parse(s)
	if err != nil {
		return bad(err.Error())
	}
	if u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return bad("a location has no query, fragment or user part")
	}
	switch u.Scheme {
	case SchemeFile:
		if u.Host != "" && u.Host != "localhost" {
			return bad(fmt.Sprintf("file URLs name a local path, not host %q (file:///path: three slashes)", u.Host))
		}
		if u.Path == "" || !filepath.IsAbs(u.Path) {
			return bad("a file URL needs an absolute path")
		}
		return Location{Scheme: SchemeFile, Dir: filepath.Clean(u.Path)}, nil
	case SchemeS3:
		if u.Host == "" {
			return bad("no bucket")
		}
		prefix := strings.Trim(u.Path, "/")
		if strings.Contains(prefix, "//") {
			return bad("empty path segment in the prefix")
		}
		for _, seg := range strings.Split(prefix, "/") {
			if seg == "." || seg == ".." {
				return bad("the prefix may not hold . or .. segments")
			}
		}
		return Location{Scheme: SchemeS3, Bucket: u.Host, Prefix: prefix}, nil
	}
	return bad(fmt.Sprintf("scheme %q is not supported (file or s3)", u.Scheme))
}
