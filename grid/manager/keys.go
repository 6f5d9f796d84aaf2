package manager

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/insightgrid/insight/grid/api"
	"github.com/insightgrid/insight/grid/cluster"
	"github.com/insightgrid/insight/grid/internal/httpjson"
	"github.com/insightgrid/insight/grid/slots"
)

// keysTimeout bounds one key browser request; respTimeout each command in it.
const (
	keysTimeout = 3 * time.Second
	respTimeout = time.Second
)

// decodeBody reads a JSON request body of at most 64 KiB into v, refusing unknown fields.
func decodeBody(w http.ResponseWriter, r *http.Request, v any, want string) bool {
	dec := json.NewDecoder(io.LimitReader(r.Body, 1<<16))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		httpjson.Error(w, http.StatusBadRequest, api.CodeBadRequest, "request body: %v; want %s", err, want)
		return false
	}
	return true
}

// primaryConn connects to the serving primary of partition p in st.
func (m *Manager) primaryConn(st *cluster.State, p int) (*respConn, error) {
	rec, ok := st.Records[p]
	if !ok || rec.Primary == "" {
		return nil, fmt.Errorf("partition %d has no primary", p)
	}
	var inst *cluster.Instance
	for i := range 2 {
		if in, ok := st.Instances[cluster.InstanceID(p, i)]; ok && in.ID == rec.Primary {
			inst = &in
		}
	}
	if inst == nil {
		return nil, fmt.Errorf("partition %d: its primary %s is not registered", p, rec.Primary)
	}
	addr, tlsCfg := inst.Address, (*tls.Config)(nil)
	if m.cfg.TLS != nil && inst.TLSAddress != "" {
		addr, tlsCfg = inst.TLSAddress, m.cfg.TLS.InternalClientConfig()
	}
	return dialRESP(addr, m.cfg.DataPassword, tlsCfg, respTimeout)
}

// postKeysScan is POST /v1/keys/scan: SCAN over the partitions' primaries in turn, with
// a cursor "PARTITION:CURSOR" across them.
func (m *Manager) postKeysScan(w http.ResponseWriter, r *http.Request) {
	var req api.KeysScanRequest
	if !decodeBody(w, r, &req, `{"pattern": "user:*", "cursor": "0", "count": 100}`) {
		return
	}
	if req.Count == 0 {
		req.Count = 100
	}
	if req.Count < 1 || req.Count > api.MaxScanCount {
		httpjson.Error(w, http.StatusBadRequest, api.CodeBadRequest, "count %d: want between 1 and %d", req.Count, api.MaxScanCount)
		return
	}
	part, cur, err := parseKeysCursor(req.Cursor)
	if err != nil {
		httpjson.Error(w, http.StatusBadRequest, api.CodeBadRequest, "cursor %q: %v; want \"0\" to start, or the cursor of the previous answer", req.Cursor, err)
		return
	}
	st, ok := m.loadMapped(w, r)
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), keysTimeout)
	defer cancel()
	out := api.KeysScan{Keys: []api.KeyRef{}, Cursor: "0"}
	n := len(st.Map.Partitions)
	for part < n && len(out.Keys) < req.Count && ctx.Err() == nil {
		c, err := m.primaryConn(st, part)
		if err != nil {
			httpjson.Error(w, http.StatusBadGateway, api.CodeBadGateway, "scanning partition %d: %v", part, err)
			return
		}
		for ctx.Err() == nil && len(out.Keys) < req.Count {
			args := []string{"SCAN", cur, "COUNT", strconv.Itoa(req.Count - len(out.Keys))}
			if req.Pattern != "" {
				args = append(args, "MATCH", req.Pattern)
			}
			v, err := c.do(respTimeout, args...)
			next, keys, perr := scanReply(v)
			if err != nil || perr != nil {
				c.close()
				httpjson.Error(w, http.StatusBadGateway, api.CodeBadGateway, "SCAN on partition %d: %v", part, errors.Join(err, perr))
				return
			}
			for _, k := range keys {
				out.Keys = append(out.Keys, api.KeyRef{Key: k, Partition: part})
			}
			cur = next
			if cur == "0" {
				break
			}
		}
		c.close()
		if cur == "0" {
			part++
		}
	}
	if part < n {
		out.Cursor = strconv.Itoa(part) + ":" + cur
	}
	httpjson.Write(w, http.StatusOK, out)
}

// parseKeysCursor reads "PARTITION:CURSOR" ("" and "0": the start).
func parseKeysCursor(s string) (int, string, error) {
	if s == "" || s == "0" {
		return 0, "0", nil
	}
	ps, cs, ok := strings.Cut(s, ":")
	p, err1 := strconv.Atoi(ps)
	_, err2 := strconv.ParseUint(cs, 10, 64)
	if !ok || err1 != nil || err2 != nil || p < 0 {
		return 0, "", errors.New("not PARTITION:CURSOR")
	}
	return p, cs, nil
}

// scanReply reads SCAN's [cursor, [keys]].
func scanReply(v any) (string, []string, error) {
	a, ok := v.([]any)
	if !ok || len(a) != 2 {
		return "", nil, errors.New("not a SCAN reply")
	}
	cur, ok := a[0].([]byte)
	ks, ok2 := a[1].([]any)
	if !ok || !ok2 {
		return "", nil, errors.New("not a SCAN reply")
	}
	keys := make([]string, 0, len(ks))
	for _, k := range ks {
		b, _ := k.([]byte)
		keys = append(keys, string(b))
	}
	return string(cur), keys, nil
}

// postKeysGet is POST /v1/keys/get: the key's type, TTL and bounded value, read from the
// primary of its slot's partition.
func (m *Manager) postKeysGet(w http.ResponseWriter, r *http.Request) {
	var req api.KeyGetRequest
	if !decodeBody(w, r, &req, `{"key": "user:1"}`) {
		return
	}
	if req.Key == "" {
		httpjson.Error(w, http.StatusBadRequest, api.CodeBadRequest, `key is empty; want {"key": "user:1"}`)
		return
	}
	st, ok := m.loadMapped(w, r)
	if !ok {
		return
	}
	slot, part := slots.OfString(req.Key), -1
	for _, pm := range st.Map.Partitions {
		for _, rg := range pm.Slots {
			if slot >= rg[0] && slot <= rg[1] {
				part = pm.ID
			}
		}
	}
	if part < 0 {
		httpjson.Error(w, http.StatusServiceUnavailable, api.CodeUnavailable, "slot %d of key %q belongs to no partition in the map", slot, req.Key)
		return
	}
	c, err := m.primaryConn(st, part)
	if err != nil {
		httpjson.Error(w, http.StatusBadGateway, api.CodeBadGateway, "reading partition %d: %v", part, err)
		return
	}
	defer c.close()
	kv, err := readKey(c, req.Key)
	if err != nil {
		httpjson.Error(w, http.StatusBadGateway, api.CodeBadGateway, "reading %q on partition %d: %v", req.Key, part, err)
		return
	}
	kv.Partition = part
	httpjson.Write(w, http.StatusOK, kv)
}

// readKey reads key's type, TTL and bounded value with read-only commands.
func readKey(c *respConn, key string) (*api.KeyValue, error) {
	kv := &api.KeyValue{Key: key}
	do := func(args ...string) (any, error) { return c.do(respTimeout, args...) }
	t, err := do("TYPE", key)
	if err != nil {
		return nil, err
	}
	tb, _ := t.([]byte)
	kv.Type = string(tb)
	if kv.Type == "none" {
		kv.TTLMillis = -2
		return kv, nil
	}
	if v, err := do("PTTL", key); err == nil {
		kv.TTLMillis, _ = v.(int64)
	}
	lengthCmd := map[string]string{"string": "STRLEN", "hash": "HLEN", "list": "LLEN", "set": "SCARD", "zset": "ZCARD", "stream": "XLEN"}[kv.Type]
	if lengthCmd == "" {
		return kv, nil // a type the browser does not show the value of
	}
	if v, err := do(lengthCmd, key); err == nil {
		kv.Length, _ = v.(int64)
	}
	items := strconv.Itoa(api.MaxValueItems)
	var v any
	switch kv.Type {
	case "string":
		if v, err = do("GETRANGE", key, "0", strconv.Itoa(api.MaxValueBytes-1)); err != nil {
			return nil, err
		}
		b, _ := v.([]byte)
		s := text(b, api.MaxValueBytes)
		kv.String, kv.Truncated = &s, kv.Length > api.MaxValueBytes
		return kv, nil
	case "hash":
		v, err = do("HSCAN", key, "0", "COUNT", items)
		if a, ok := v.([]any); ok && len(a) == 2 {
			v = a[1]
		}
		kv.Items = pairs(v, 2)
	case "list":
		v, err = do("LRANGE", key, "0", strconv.Itoa(api.MaxValueItems-1))
		kv.Items = pairs(v, 1)
	case "set":
		v, err = do("SSCAN", key, "0", "COUNT", items)
		if a, ok := v.([]any); ok && len(a) == 2 {
			v = a[1]
		}
		kv.Items = pairs(v, 1)
	case "zset":
		v, err = do("ZRANGE", key, "0", strconv.Itoa(api.MaxValueItems-1), "WITHSCORES")
		kv.Items = pairs(v, 2)
	case "stream":
		v, err = do("XRANGE", key, "-", "+", "COUNT", items)
		kv.Items = streamItems(v)
	}
	if err != nil {
		return nil, err
	}
	if len(kv.Items) > api.MaxValueItems {
		kv.Items = kv.Items[:api.MaxValueItems]
	}
	kv.Truncated = int64(len(kv.Items)) < kv.Length
	return kv, nil
}

// text is b as valid UTF-8 (invalid bytes replaced), cut at max bytes.
func text(b []byte, max int) string {
	if len(b) > max {
		b = b[:max]
	}
	if utf8.Valid(b) {
		return string(b)
	}
	return strings.ToValidUTF8(string(b), "\uFFFD")
}

// pairs groups a flat reply into rows of n strings.
func pairs(v any, n int) [][]string {
	a, _ := v.([]any)
	out := [][]string{}
	for i := 0; i+n <= len(a); i += n {
		row := make([]string, n)
		for j := range n {
			b, _ := a[i+j].([]byte)
			row[j] = text(b, api.MaxElementSize)
		}
		out = append(out, row)
	}
	return out
}

// streamItems flattens XRANGE's [[id, [f, v, ...]], ...] into rows id, f, v, ...
func streamItems(v any) [][]string {
	a, _ := v.([]any)
	out := [][]string{}
	for _, e := range a {
		ea, _ := e.([]any)
		if len(ea) != 2 {
			continue
		}
		id, _ := ea[0].([]byte)
		row := []string{string(id)}
		for _, f := range pairs(ea[1], 1) {
			row = append(row, f[0])
		}
		out = append(out, row)
	}
	return out
}
