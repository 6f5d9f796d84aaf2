package diff

import (
	"strings"
	"testing"
)

const before = `---
# Source: a/templates/cm.yaml
apiVersion: v1
kind: ConfigMap
metadata:
  name: conf
data:
  size: "1"
  mode: fast
---
# Source: a/templates/old.yaml
apiVersion: v1
kind: Service
metadata:
  name: old
  namespace: other
spec:
  ports: [{port: 80}]
---
# Source: a/templates/secret.yaml
apiVersion: v1
kind: Secret
metadata:
  name: auth
data:
  password: b2xkLXZhbHVl
  user: YWRtaW4=
---
# Source: a/templates/keep.yaml
apiVersion: v1
kind: Secret
metadata:
  name: kept
stringData:
  token: unchanged-token
`

const after = `---
# Source: a/templates/cm.yaml
apiVersion: v1
kind: ConfigMap
metadata:
  name: conf
data:
  size: "2"
  mode: fast
---
# Source: a/templates/new.yaml
apiVersion: apps/v1
kind: Deployment
metadata:
  name: new
spec:
  replicas: 1
---
# Source: a/templates/secret.yaml
apiVersion: v1
kind: Secret
metadata:
  name: auth
data:
  password: bmV3LXZhbHVl
  user: YWRtaW4=
---
# Source: a/templates/keep.yaml
apiVersion: v1
kind: Secret
metadata:
  name: kept
stringData:
  token: unchanged-token
`

func TestCompare(t *testing.T) {
	changes, err := Compare(before, after, "ns", Labels{From: "revision 1", To: "upgrade"})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]Change{}
	var headers []string
	for _, c := range changes {
		got[c.Header()] = c
		headers = append(headers, c.Header()+" "+c.Change)
	}
	want := []string{"ns, auth, Secret changed", "ns, conf, ConfigMap changed", "ns, new, Deployment (apps) added", "other, old, Service removed"}
	if strings.Join(headers, "\n") != strings.Join(want, "\n") {
		t.Fatalf("changes:\n%s\nwant:\n%s", strings.Join(headers, "\n"), strings.Join(want, "\n"))
	}
	cm := got["ns, conf, ConfigMap"].Diff
	for _, l := range []string{"--- revision 1\n", "+++ upgrade\n", "-  size: \"1\"\n", "+  size: \"2\"\n", "   mode: fast\n"} {
		if !strings.Contains(cm, l) {
			t.Errorf("ConfigMap diff lacks %q:\n%s", l, cm)
		}
	}
	add := got["ns, new, Deployment (apps)"].Diff
	if !strings.Contains(add, "@@ -0,0 +1,") || !strings.Contains(add, "+kind: Deployment\n") || strings.Contains(add, "\n-") {
		t.Errorf("an added object is not shown in full as added lines:\n%s", add)
	}
	rm := got["other, old, Service"].Diff
	if !strings.Contains(rm, "-kind: Service\n") || strings.Contains(rm, "\n+k") {
		t.Errorf("a removed object is not shown in full as removed lines:\n%s", rm)
	}
}

// A Secret's diff says which key changed and never shows a value, on either side.
func TestCompareMasksSecrets(t *testing.T) {
	changes, err := Compare(before, after, "ns", Labels{From: "a", To: "b"})
	if err != nil {
		t.Fatal(err)
	}
	var secret string
	for _, c := range changes {
		if c.Kind == "Secret" {
			if c.Name != "auth" {
				t.Errorf("Secret %s is shown although nothing in it changed", c.Name)
			}
			secret = c.Diff
		}
	}
	for _, l := range []string{"-  password: '*** (before)'\n", "+  password: '*** (after)'\n"} {
		if !strings.Contains(secret, l) {
			t.Errorf("Secret diff lacks %q:\n%s", l, secret)
		}
	}
	for _, v := range []string{"b2xkLXZhbHVl", "bmV3LXZhbHVl", "YWRtaW4=", "old-value", "new-value"} {
		if strings.Contains(secret, v) {
			t.Errorf("Secret diff shows value %q:\n%s", v, secret)
		}
	}
	if !strings.Contains(secret, "user: '***'") {
		t.Errorf("an unchanged key is not shown masked:\n%s", secret)
	}
}

// An added or removed Secret is masked too.
func TestCompareMasksAddedSecret(t *testing.T) {
	s := "apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\nstringData:\n  pw: hunter2\n"
	for _, tc := range []struct{ a, b, want string }{{"", s, Added}, {s, "", Removed}} {
		changes, err := Compare(tc.a, tc.b, "ns", Labels{})
		if err != nil {
			t.Fatal(err)
		}
		if len(changes) != 1 || changes[0].Change != tc.want {
			t.Fatalf("changes %+v, want one %s", changes, tc.want)
		}
		if strings.Contains(changes[0].Diff, "hunter2") || !strings.Contains(changes[0].Diff, "pw: '*** (") {
			t.Errorf("%s Secret not masked:\n%s", tc.want, changes[0].Diff)
		}
	}
}

func TestCompareSame(t *testing.T) {
	changes, err := Compare(before, before, "ns", Labels{})
	if err != nil || len(changes) != 0 {
		t.Fatalf("the same manifest: %v, %+v", err, changes)
	}
}
