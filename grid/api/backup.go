package api

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
)

// Backup and restore through the manager (docs/operations.md, "Backup and restore").
//
// POST /v1/partitions/{id}/snapshot answers with partition id's snapshot, taken at its
// serving primary, as a stream of the journal's snapshot file format (CRC-checked
// records); the headers give where in the primary's replication numbering it started,
// and the trailers, sent after the stream, where it ended and how many keys it holds. A
// stream whose trailers are missing was cut short.
//
// POST /v1/restore takes one such snapshot as its body and writes every key to the
// partition that owns its slot now, through that partition's primary, as any write
// (replicated to the backup, journaled); it answers RestoreResult. It skips the
// snapshot's function libraries, which belong to every primary rather than to a slot:
//
// POST /v1/restore/libraries takes the head of a snapshot (SnapshotHead) and answers
// SnapshotLibraries, the function libraries it holds; it writes nothing.
//
// POST /v1/restore/functions takes FunctionsRestore and loads the libraries on every
// primary, as FUNCTION LOAD (replicated to the backup, journaled). It refuses, loading
// nothing, when any primary holds a function library already, naming them.
const (
	OpSnapshot           = "snapshot"
	PathRestore          = "/v1/restore"
	PathRestoreFunctions = "/v1/restore/functions"
	PathRestoreLibraries = "/v1/restore/libraries"

	// Headers of a snapshot's answer.
	HeaderEpoch = "X-Insight-Epoch" // the primary's epoch
	HeaderSeq   = "X-Insight-Seq"   // its replication sequence when the snapshot started
	// Trailers of a snapshot's answer.
	TrailerSeqEnd = "X-Insight-Seq-End" // the sequence when the snapshot ended
	TrailerKeys   = "X-Insight-Keys"    // the keys the snapshot holds
)

// ManifestFile is the name of a backup's manifest, written last: a backup without it is
// incomplete.
const ManifestFile = "manifest.json"

// ManifestFormat is the manifest's format version.
const ManifestFormat = 1

// Manifest describes one backup: a directory or object prefix holding this manifest and
// one snapshot file per partition.
type Manifest struct {
	Format int `json:"format"`
	// Release is the release (or grid) the backup was taken of.
	Release string `json:"release"`
	// Time is when the backup started, RFC 3339 in UTC.
	Time string `json:"time"`
	// GridVersion is the manager's version.
	GridVersion string              `json:"gridVersion"`
	Partitions  []PartitionSnapshot `json:"partitions"`
}

// PartitionSnapshot is one partition's file in a Manifest.
type PartitionSnapshot struct {
	ID int `json:"id"`
	// File is the snapshot's name beside the manifest.
	File  string   `json:"file"`
	Slots [][2]int `json:"slots"`
	// Epoch and Seq are where the primary's replication numbering was when the snapshot
	// started, SeqEnd where it was when it ended: each slot is copied at one point in
	// between (equal: no write happened meanwhile, the snapshot is the partition at Seq).
	Epoch  int64  `json:"epoch"`
	Seq    uint64 `json:"seq"`
	SeqEnd uint64 `json:"seqEnd"`
	// Keys counts the snapshot's records: its keys, and one more when it holds function
	// libraries.
	Keys   uint64 `json:"keys"`
	Bytes  int64  `json:"bytes"`
	SHA256 string `json:"sha256"`
}

// RestoreResult is the answer to POST /v1/restore.
type RestoreResult struct {
	// Keys counts the keys written; ByPartition counts them per target partition.
	Keys        uint64         `json:"keys"`
	ByPartition map[int]uint64 `json:"byPartition"`
}

// SnapshotHeadMax bounds one record SnapshotHead reads, as the journal's format bounds
// a record: a record of function libraries is at most this long.
const SnapshotHeadMax = 1<<30 + 1<<20

// snapshotMagicLen and snapshotFrame are the snapshot format's magic and each record's
// frame header (a 4-byte little-endian payload length, then its CRC-32C).
const (
	snapshotMagicLen = 8
	snapshotFrame    = 8
)

// SnapshotHead reads the start of a snapshot (the format of POST
// /v1/partitions/{id}/snapshot) as it is, unchecked: its magic and its first two records,
// the head and the record after it, which holds the function libraries when the snapshot
// has any (the instance writes them first). POST /v1/restore/libraries reads it.
func SnapshotHead(r io.Reader) ([]byte, error) {
	b := make([]byte, snapshotMagicLen, snapshotMagicLen+2*snapshotFrame)
	if _, err := io.ReadFull(r, b); err != nil {
		return nil, fmt.Errorf("the snapshot's magic: %w", err)
	}
	for i := range 2 {
		frame := make([]byte, snapshotFrame)
		if _, err := io.ReadFull(r, frame); err != nil {
			return nil, fmt.Errorf("record %d of the snapshot: %w", i, err)
		}
		n := binary.LittleEndian.Uint32(frame)
		if int64(n) > SnapshotHeadMax {
			return nil, fmt.Errorf("record %d of the snapshot announces %d bytes, more than a record holds: not a snapshot", i, n)
		}
		b = append(b, frame...)
		start := len(b)
		b = append(b, make([]byte, n)...)
		if _, err := io.ReadFull(r, b[start:]); err != nil {
			return nil, fmt.Errorf("record %d of the snapshot: %w", i, err)
		}
	}
	return b, nil
}

// Library is one function library of a snapshot.
type Library struct {
	Name string `json:"name"`
	Code string `json:"code"`
}

// SnapshotLibraries is the answer to POST /v1/restore/libraries.
type SnapshotLibraries struct {
	Libraries []Library `json:"libraries"`
}

// FunctionsRestore is the body of POST /v1/restore/functions: the codes of the function
// libraries to load on every primary (each starting "#!lua name=<library>"), every
// library once.
type FunctionsRestore struct {
	Libraries []string `json:"libraries"`
}

// FunctionsRestoreResult is the answer to POST /v1/restore/functions.
type FunctionsRestoreResult struct {
	// Libraries counts the libraries loaded on each primary; Primaries counts those.
	Libraries int `json:"libraries"`
	Primaries int `json:"primaries"`
}

// SnapshotInfo is what a snapshot's headers and trailers said.
type SnapshotInfo struct {
	Epoch       int64
	Seq, SeqEnd uint64
	Keys        uint64
}

// Snapshot streams partition p's snapshot into w and returns what its headers and
// trailers say; a stream cut short is an error.
func (c *Client) Snapshot(ctx context.Context, p int, w io.Writer) (SnapshotInfo, error) {
	path := PartitionPath(p, OpSnapshot)
	resp, err := c.Post(ctx, path, nil, "", "")
	if err != nil {
		return SnapshotInfo{}, err
	}
	defer resp.Body.Close()
	var info SnapshotInfo
	if info.Epoch, err = strconv.ParseInt(resp.Header.Get(HeaderEpoch), 10, 64); err != nil {
		return info, fmt.Errorf("POST %s via %s: header %s: %w", path, c.Via, HeaderEpoch, err)
	}
	if info.Seq, err = strconv.ParseUint(resp.Header.Get(HeaderSeq), 10, 64); err != nil {
		return info, fmt.Errorf("POST %s via %s: header %s: %w", path, c.Via, HeaderSeq, err)
	}
	if _, err := io.Copy(w, resp.Body); err != nil {
		return info, fmt.Errorf("POST %s via %s: reading the snapshot: %w", path, c.Via, err)
	}
	keys, end := resp.Trailer.Get(TrailerKeys), resp.Trailer.Get(TrailerSeqEnd)
	if keys == "" || end == "" {
		return info, fmt.Errorf("POST %s via %s: the snapshot ended without its trailers %s and %s: it was cut short", path, c.Via, TrailerKeys, TrailerSeqEnd)
	}
	if info.Keys, err = strconv.ParseUint(keys, 10, 64); err != nil {
		return info, fmt.Errorf("POST %s via %s: trailer %s: %w", path, c.Via, TrailerKeys, err)
	}
	if info.SeqEnd, err = strconv.ParseUint(end, 10, 64); err != nil {
		return info, fmt.Errorf("POST %s via %s: trailer %s: %w", path, c.Via, TrailerSeqEnd, err)
	}
	return info, nil
}

// Restore sends one snapshot (as Snapshot wrote it) to be restored by slot.
func (c *Client) Restore(ctx context.Context, body io.Reader) (*RestoreResult, error) {
	resp, err := c.Post(ctx, PathRestore, body, "application/octet-stream", "")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var out RestoreResult
	if err := decodeAnswer(resp, c.Via, http.MethodPost, PathRestore, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Libraries reads the function libraries of a snapshot from its head (SnapshotHead).
func (c *Client) Libraries(ctx context.Context, head []byte) ([]Library, error) {
	resp, err := c.Post(ctx, PathRestoreLibraries, bytes.NewReader(head), "application/octet-stream", "")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var out SnapshotLibraries
	if err := decodeAnswer(resp, c.Via, http.MethodPost, PathRestoreLibraries, &out); err != nil {
		return nil, err
	}
	return out.Libraries, nil
}

// RestoreFunctions loads the function libraries of codes on every primary of a grid
// holding none.
func (c *Client) RestoreFunctions(ctx context.Context, codes []string) (*FunctionsRestoreResult, error) {
	body, err := json.Marshal(FunctionsRestore{Libraries: codes})
	if err != nil {
		return nil, fmt.Errorf("POST %s: %w", PathRestoreFunctions, err)
	}
	resp, err := c.Post(ctx, PathRestoreFunctions, bytes.NewReader(body), "application/json", "")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var out FunctionsRestoreResult
	if err := decodeAnswer(resp, c.Via, http.MethodPost, PathRestoreFunctions, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Post sends POST path with body (nil: none), its contentType and the formats accept
// names ("": neither header) and the operator token, and returns a 2xx answer unread, for
// the caller to close; any other answer is returned as Do returns it.
func (c *Client) Post(ctx context.Context, path string, body io.Reader, contentType, accept string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.Base+path, body)
	if err != nil {
		return nil, fmt.Errorf("manager request POST %s: %w", path, err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	if c.Token != nil {
		t, err := c.Token()
		if err != nil {
			return nil, fmt.Errorf("POST %s: the operator token: %w", path, err)
		}
		if t != "" {
			req.Header.Set(TokenHeader, t)
		}
	}
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("POST %s via %s: %w", path, c.Via, ctx.Err())
		}
		return nil, &UnreachableError{Via: c.Via, Err: err}
	}
	if resp.StatusCode/100 == 2 {
		return resp, nil
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, &UnreachableError{Via: c.Via, Err: fmt.Errorf("reading the answer: %w", err)}
	}
	return nil, answerError(c.Via, resp.StatusCode, answer)
}

// decodeAnswer decodes a 2xx JSON answer into out.
func decodeAnswer(resp *http.Response, via, method, path string, out any) error {
	answer, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return &UnreachableError{Via: via, Err: fmt.Errorf("reading the answer: %w", err)}
	}
	if err := json.Unmarshal(answer, out); err != nil {
		return fmt.Errorf("%s %s via %s: the answer is not the manager's JSON: %w (%.200q)", method, path, via, err, answer)
	}
	return nil
}
