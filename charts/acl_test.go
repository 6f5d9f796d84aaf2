package charts_test

import (
	"encoding/base64"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/insightgrid/insight/charts"
)

const aclSecret = releaseName + "-insight-pu-acl"

// aclWiring checks that every PU StatefulSet mounts the key users.acl of secret as
// /etc/insight/acl/users.acl (a directory mount, so a changed Secret reaches the file)
// and names it in INSIGHT_ACLFILE, or has neither when secret is "".
func aclWiring(t *testing.T, objs map[string]map[string]any, secret string) {
	t.Helper()
	n := 0
	for key, o := range objs {
		if !strings.HasPrefix(key, "StatefulSet/"+releaseName+"-insight-pu-") {
			continue
		}
		n++
		spec, _, _ := unstructured.NestedMap(o, "spec", "template", "spec")
		var vol map[string]any
		vols, _, _ := unstructured.NestedSlice(spec, "volumes")
		for _, v := range vols {
			if v.(map[string]any)["name"] == "acl" {
				vol = v.(map[string]any)
			}
		}
		ctr := spec["containers"].([]any)[0].(map[string]any)
		env, mounted := "", false
		for _, e := range ctr["env"].([]any) {
			if e.(map[string]any)["name"] == "INSIGHT_ACLFILE" {
				env, _ = e.(map[string]any)["value"].(string)
			}
		}
		for _, m := range ctr["volumeMounts"].([]any) {
			mm := m.(map[string]any)
			if mm["name"] == "acl" {
				mounted = mm["mountPath"] == "/etc/insight/acl" && mm["readOnly"] == true && mm["subPath"] == nil
			}
		}
		if secret == "" {
			if vol != nil || env != "" || mounted {
				t.Errorf("%s: ACL file wired (volume %v, env %q, mounted %v), want none", key, vol, env, mounted)
			}
			continue
		}
		name, _, _ := unstructured.NestedString(vol, "secret", "secretName")
		items, _, _ := unstructured.NestedSlice(vol, "secret", "items")
		if name != secret || len(items) != 1 || items[0].(map[string]any)["key"] != "users.acl" || items[0].(map[string]any)["path"] != "users.acl" {
			t.Errorf("%s: acl volume %v, want Secret %s key users.acl", key, vol, secret)
		}
		if env != "/etc/insight/acl/users.acl" || !mounted {
			t.Errorf("%s: INSIGHT_ACLFILE %q, mounted %v; want the directory mount's users.acl", key, env, mounted)
		}
	}
	if n == 0 {
		t.Fatal("no PU StatefulSet rendered")
	}
}

// TestACLUsersWiring: pu.auth.users become the Secret <base>-pu-acl, pu.auth.aclSecret
// names the user's own; either is given to every PU as --aclfile; without them no PU has
// an ACL file.
func TestACLUsersWiring(t *testing.T) {
	objs := renderObjects(t, secrets(), false, "pu.partitions=2")
	aclWiring(t, objs, "")
	if _, ok := objs["Secret/"+aclSecret]; ok {
		t.Error("an ACL Secret rendered without pu.auth.users")
	}

	objs = renderObjects(t, secrets(), false, `pu.partitions=2,pu.auth.users[0]=user app on >pw ~app:* +@all -@dangerous,pu.auth.users[1]=user ro on >r %R~* +@read`)
	aclWiring(t, objs, aclSecret)
	s, ok := objs["Secret/"+aclSecret]
	if !ok {
		t.Fatal("no Secret " + aclSecret + " for pu.auth.users")
	}
	enc, _, _ := unstructured.NestedString(s, "data", "users.acl")
	b, _ := base64.StdEncoding.DecodeString(enc)
	if want := "user app on >pw ~app:* +@all -@dangerous\nuser ro on >r %R~* +@read\n"; string(b) != want {
		t.Errorf("users.acl = %q, want %q", b, want)
	}

	objs = renderObjects(t, secrets(), false, "pu.auth.aclSecret=my-users")
	aclWiring(t, objs, "my-users")
	if _, ok := objs["Secret/"+aclSecret]; ok {
		t.Error("the chart made an ACL Secret besides pu.auth.aclSecret's")
	}
}

// TestACLUsersBadValues: a line not in the ACL file format, a bad Secret name, and both
// sources at once are refused with messages naming the key.
func TestACLUsersBadValues(t *testing.T) {
	c, err := charts.Load("")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		set  string
		want []string
	}{
		{"pu.auth.users[0]=alice on >pw", []string{"/pu/auth/users/0", "does not match pattern"}},
		{"pu.auth.aclSecret=My_Users", []string{"/pu/auth/aclSecret", "does not match pattern"}},
		{"pu.auth.user[0]=user a on", []string{"/pu/auth", "additional properties 'user' not allowed"}},
		{"pu.auth.users[0]=user a on,pu.auth.aclSecret=s", []string{"pu.auth.users and pu.auth.aclSecret are both set"}},
	} {
		_, err := render(t, c, valueSet{sets: []string{tc.set}}.values(t))
		for _, want := range tc.want {
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("--set %s: error %v, want one containing %q", tc.set, err, want)
			}
		}
	}
	_, err = render(t, mustLoad(t, charts.PU), valueSet{sets: []string{"auth.users[0]=user a on,auth.aclSecret=s"}}.values(t))
	if err == nil || !strings.Contains(err.Error(), "auth.users and auth.aclSecret are both set") || strings.Contains(err.Error(), "pu.auth") {
		t.Errorf("the PU chart alone with both: %v, want the message without the umbrella's prefix", err)
	}
}
