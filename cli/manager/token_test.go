package manager

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/insightgrid/insight/grid/api"
)

// managerSet is the manager StatefulSet of release demo, mounting the token of secret
// (key) as the chart does; secret "" mounts none.
func managerSet(secret, key string) *appsv1.StatefulSet {
	s := &appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Name: "demo-insight-manager", Namespace: "insight",
		Labels: map[string]string{"app.kubernetes.io/instance": "demo", "app.kubernetes.io/component": "manager"}}}
	if secret != "" {
		s.Spec.Template.Spec.Volumes = []corev1.Volume{{Name: "tmp"}, {Name: "operator-token", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{
			SecretName: secret, Items: []corev1.KeyToPath{{Key: key, Path: "token"}}}}}}
	}
	return s
}

func tokenSecretObj(name, key, token string) *corev1.Secret {
	return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "insight"}, Data: map[string][]byte{key: []byte(token + "\n")}}
}

// secretGets counts the Secret reads the fake API server answered.
func secretGets(kube *fake.Clientset) int {
	n := 0
	for _, a := range kube.Actions() {
		if a.GetVerb() == "get" && a.GetResource().Resource == "secrets" {
			n++
		}
	}
	return n
}

func TestSecretTokenReadsTheSecretTheManagersMountOnce(t *testing.T) {
	for _, c := range []struct{ secret, key string }{{"demo-insight-operator-token", "token"}, {"gitops-token", "op"}} {
		kube := fake.NewClientset(managerSet(c.secret, c.key), tokenSecretObj(c.secret, c.key, "tok-"+c.key))
		token := SecretToken(kube, "insight", "demo")
		for range 2 {
			got, err := token()
			if err != nil || got != "tok-"+c.key {
				t.Fatalf("Secret %s key %s: token %q, %v", c.secret, c.key, got, err)
			}
		}
		if n := secretGets(kube); n != 1 {
			t.Fatalf("Secret read %d times, want once", n)
		}
	}
}

func TestSecretTokenOfAReleaseWithoutToken(t *testing.T) {
	for name, kube := range map[string]*fake.Clientset{"no token volume": fake.NewClientset(managerSet("", "")), "no manager": fake.NewClientset()} {
		if got, err := SecretToken(kube, "insight", "demo")(); err != nil || got != "" {
			t.Fatalf("%s: %q, %v; want no token", name, got, err)
		}
	}
}

func TestSecretTokenExplainsWhatIsMissing(t *testing.T) {
	forbidden := fake.NewClientset(managerSet("demo-insight-operator-token", "token"))
	forbidden.PrependReactor("get", "secrets", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewForbidden(schema.GroupResource{Resource: "secrets"}, "demo-insight-operator-token", nil)
	})
	for _, c := range []struct {
		name string
		kube *fake.Clientset
		want []string
	}{
		{"forbidden", forbidden, []string{"Secret insight/demo-insight-operator-token", "get on secrets named demo-insight-operator-token in namespace insight", "forbidden"}},
		{"deleted", fake.NewClientset(managerSet("demo-insight-operator-token", "token")), []string{"Secret insight/demo-insight-operator-token", "does not exist"}},
		{"empty", fake.NewClientset(managerSet("s", "token"), tokenSecretObj("s", "other", "x")), []string{`Secret insight/s`, `no key "token"`}},
	} {
		token := SecretToken(c.kube, "insight", "demo")
		_, err := token()
		for _, w := range c.want {
			if err == nil || !strings.Contains(err.Error(), w) {
				t.Fatalf("%s: error %v, want it to say %q", c.name, err, w)
			}
		}
		if _, err2 := token(); err2 == nil {
			t.Fatalf("%s: the second call succeeded after the first failed", c.name)
		}
	}
}

// The clients Reach returns present the token on changes, whichever way reached the
// manager.
func TestReachedClientsPresentTheToken(t *testing.T) {
	var got string
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			got = r.Header.Get(api.TokenHeader)
			_, _ = w.Write([]byte(`{"partition":0}`))
			return
		}
		_, _ = w.Write([]byte(`{"status":"ok"}`))
	}))
	t.Cleanup(s.Close)
	token := func() (string, error) { return "tok", nil }
	ways := map[string]Reacher{
		"url":   {URL: s.URL, Token: token},
		"proxy": {Proxy: func(context.Context) (*api.Client, func(), error) { return api.NewClient(s.URL, s.Client()), nil, nil }, Token: token},
	}
	for name, r := range ways {
		got = ""
		c, stop, err := r.Reach(context.Background())
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if _, err := c.Failover(context.Background(), 0); err != nil {
			t.Fatalf("%s: failover: %v", name, err)
		}
		stop()
		if got != "tok" {
			t.Fatalf("%s: the manager got token %q, want tok", name, got)
		}
	}
}
