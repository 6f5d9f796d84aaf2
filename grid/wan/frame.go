package wan

import (
	"encoding/binary"
	"errors"
	"fmt"
	"mime"
	"strings"
)

// BatchContentType is a Batch in the compact binary framing (AppendBatch), which the
// pull's answer and the batch to a sink use when both ends take it: a gateway asks a
// primary for it with Accept, and sends it to a sink whose answers carried it in
// Accept-Post; JSON otherwise (an older site or instance). The changes' keys and values
// go as they are, not in base64, and are decoded without a copy.
const BatchContentType = "application/vnd.insight.wan-batch"

// batchMagic starts every binary batch: the format's name and version.
const batchMagic = "IWB1"

// Change flags in the binary framing.
const (
	frameOp       = 1 << iota // the change carries Op
	frameState                // the change carries State
	frameSameSite             // the change's Site is the batch's
)

// Batch flags in the binary framing.
const (
	frameResync = 1 << iota
	frameCursor
)

// IsBatchType reports whether a Content-Type header names the binary framing.
func IsBatchType(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	return err == nil && mt == BatchContentType
}

// AcceptsBatchType reports whether an Accept or Accept-Post header lists the binary
// framing.
func AcceptsBatchType(header string) bool {
	for part := range strings.SplitSeq(header, ",") {
		if IsBatchType(strings.TrimSpace(part)) {
			return true
		}
	}
	return false
}

// AppendBatch appends b in the binary framing to dst.
func AppendBatch(dst []byte, b *Batch) []byte {
	dst = append(dst, batchMagic...)
	dst = appendString(dst, b.Site)
	dst = binary.AppendUvarint(dst, uint64(b.Partition+1)) // -1: a repair's batch
	dst = binary.AppendUvarint(dst, b.Upto)
	var flags uint64
	if b.Resync {
		flags |= frameResync
	}
	if b.Cursor {
		flags |= frameCursor
	}
	dst = binary.AppendUvarint(dst, flags)
	dst = appendString(dst, b.Policies)
	dst = binary.AppendUvarint(dst, uint64(len(b.Changes)))
	for i := range b.Changes {
		c := &b.Changes[i]
		var f uint64
		if len(c.Op) > 0 {
			f |= frameOp
		}
		if len(c.State) > 0 {
			f |= frameState
		}
		if c.Site == b.Site {
			f |= frameSameSite
		}
		dst = binary.AppendUvarint(dst, f)
		dst = binary.AppendUvarint(dst, uint64(len(c.Key)))
		dst = append(dst, c.Key...)
		dst = binary.AppendUvarint(dst, c.HLC)
		if f&frameSameSite == 0 {
			dst = appendString(dst, c.Site)
		}
		if f&frameOp != 0 {
			dst = binary.AppendUvarint(dst, uint64(len(c.Op)))
			dst = append(dst, c.Op...)
		}
		if f&frameState != 0 {
			dst = binary.AppendUvarint(dst, uint64(len(c.State)))
			dst = append(dst, c.State...)
		}
	}
	return dst
}

func appendString(dst []byte, s string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

// DecodeBatch decodes a batch in the binary framing; its changes' Key, Op and State
// are slices of p.
func DecodeBatch(p []byte) (Batch, error) {
	var b Batch
	if len(p) < len(batchMagic) || string(p[:len(batchMagic)]) != batchMagic {
		return b, fmt.Errorf("not a %s body (it starts %.8q)", BatchContentType, p)
	}
	r := reader{b: p[len(batchMagic):]}
	b.Site = string(r.bytes())
	part := r.u64()
	b.Upto = r.u64()
	flags := r.u64()
	b.Policies = string(r.bytes())
	n := r.u64()
	if r.err != nil {
		return b, fmt.Errorf("batch header: %w", r.err)
	}
	if part > 1<<31 {
		return b, fmt.Errorf("batch header: partition %d out of range", int64(part)-1)
	}
	b.Partition = int(part) - 1
	b.Resync, b.Cursor = flags&frameResync != 0, flags&frameCursor != 0
	if n > uint64(len(r.b)/3) { // a change takes 3 bytes at least
		return b, fmt.Errorf("batch header: %d changes in %d bytes", n, len(r.b))
	}
	if n > 0 {
		b.Changes = make([]Change, n)
	}
	for i := range b.Changes {
		c := &b.Changes[i]
		f := r.u64()
		c.Key = r.bytes()
		c.HLC = r.u64()
		c.Site = b.Site
		if f&frameSameSite == 0 {
			c.Site = string(r.bytes())
		}
		if f&frameOp != 0 {
			c.Op = r.bytes()
		}
		if f&frameState != 0 {
			c.State = r.bytes()
		}
		if r.err != nil {
			return b, fmt.Errorf("change %d of %d: %w", i, n, r.err)
		}
	}
	if len(r.b) != 0 {
		return b, errors.New("bytes after the last change")
	}
	return b, nil
}
