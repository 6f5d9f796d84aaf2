package wan

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/insightgrid/insight/grid/api"
)

// fakeToken is the fake gateway's operator token.
const fakeToken = "s3cret-operator-token"

// fakeGateway speaks the WAN gateway's contract (grid/api: GET /v1/wan/status, POST
// /v1/wan/sync) over HTTPS with a certificate for localhost and 127.0.0.1, as the
// release's and insight-grid local's are, requiring the operator token on POSTs as
// opauth.Guard does.
type fakeGateway struct {
	*httptest.Server
	// caFile and tokenFile hold the CA and the token, as insight-grid local writes them.
	caFile, tokenFile string
	caPEM             []byte

	mu      sync.Mutex
	targets []string
	repairs []api.WANRepair
	// progress says what each status read does to the running repairs: nil leaves them
	// running.
	progress func(r *api.WANRepair)
	// syncStatus, when set, is the answer to every POST /v1/wan/sync (400, 409, ...).
	syncStatus int
	syncMsg    string
	posts      []string // the bodies of the POSTs, with the token they carried
}

func newFakeGateway(t *testing.T, targets ...string) *fakeGateway {
	t.Helper()
	caPEM, cert := issue(t)
	f := &fakeGateway{targets: targets, caPEM: caPEM}
	f.Server = httptest.NewUnstartedServer(http.HandlerFunc(f.serve))
	f.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	f.StartTLS()
	t.Cleanup(f.Close)
	dir := t.TempDir()
	f.caFile, f.tokenFile = filepath.Join(dir, "ca.crt"), filepath.Join(dir, "operator-token")
	if err := os.WriteFile(f.caFile, caPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(f.tokenFile, []byte(fakeToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

// issue makes a CA and a server certificate it signs for localhost and 127.0.0.1.
func issue(t *testing.T) ([]byte, tls.Certificate) {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"}, NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "gateway"}, NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

func (f *fakeGateway) serve(w http.ResponseWriter, r *http.Request) {
	answer := func(status int, v any) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(v)
	}
	refuse := func(status int, code, format string, a ...any) {
		answer(status, map[string]any{"error": map[string]string{"code": code, "message": fmt.Sprintf(format, a...)}})
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	switch r.Method + " " + r.URL.Path {
	case "GET " + api.PathWANStatus:
		if f.progress != nil {
			for i := range f.repairs {
				if f.repairs[i].State == api.WANRepairRunning {
					f.progress(&f.repairs[i])
				}
			}
		}
		answer(http.StatusOK, f.status())
	case "POST " + api.PathWANSync:
		tok := r.Header.Get("X-Insight-Token")
		if b, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
			tok = b
		}
		var body api.WANSyncRequest
		err := json.NewDecoder(r.Body).Decode(&body)
		f.posts = append(f.posts, fmt.Sprintf("%s token=%q", body.Target, tok))
		switch {
		case tok == "":
			refuse(http.StatusUnauthorized, "Unauthorized", "POST %s changes the grid: send the operator token", api.PathWANSync)
		case tok != fakeToken:
			refuse(http.StatusForbidden, "Forbidden", "POST %s: the operator token sent is not this grid's", api.PathWANSync)
		case err != nil:
			refuse(http.StatusBadRequest, "BadRequest", "body: %v", err)
		case f.syncStatus != 0:
			refuse(f.syncStatus, http.StatusText(f.syncStatus), "%s", f.syncMsg)
		default:
			id := int64(len(f.repairs) + 1)
			f.repairs = append(f.repairs, api.WANRepair{Target: body.Target, ID: id, State: api.WANRepairRunning, Started: "2025-01-02T03:04:00Z"})
			answer(http.StatusAccepted, api.WANRepairStarted{Target: body.Target, ID: id, State: api.WANRepairRunning})
		}
	default:
		refuse(http.StatusNotFound, "NotFound", "no %s %s", r.Method, r.URL.Path)
	}
}

// status is a status document as grid/wan's gateway writes it (grid/api's
// WANGatewayStatus), by its JSON names, with partition fields insightctl does not show.
func (f *fakeGateway) status() map[string]any {
	targets := []map[string]any{}
	for i, name := range f.targets {
		// acknowledged up to 03:04:01.500 UTC on the frozen day, counter 7
		hlc := uint64(time.Date(2025, 1, 2, 3, 4, 1, 500e6, time.UTC).UnixMilli())<<16 | 7
		oos := []int{}
		if i == 1 {
			oos = []int{1, 2}
		}
		targets = append(targets, map[string]any{"site": name, "address": fmt.Sprintf("10.0.%d.7:7443", i), "backlog": 120 * i,
			"oldestAckedHLC": hlc, "lagSeconds": 2.5 * float64(i), "outOfSyncPartitions": oos})
	}
	repairs := append([]api.WANRepair{}, f.repairs...)
	return map[string]any{"site": "london", "targets": targets,
		"partitions": []map[string]any{
			{"partition": 0, "site": "london", "outboxFull": "block", "outbox": 3, "targets": []map[string]any{{"site": "paris", "ackedHLC": 1, "backlog": 0}}},
			{"partition": 1, "error": "no primary"},
		},
		"batchesSent": 42, "keysSent": 8100, "bytesSent": 1536000, "keysApplied": 640, "errors": 2, "repairs": repairs}
}

func (f *fakeGateway) postsMade() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.posts...)
}
