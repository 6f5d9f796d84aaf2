package manager

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// tokenVolume is the volume the chart mounts the operator token Secret as, in the
// managers and the PUs.
const tokenVolume = "operator-token"

// tokenTimeout bounds reading the release's operator token from the API server.
const tokenTimeout = 10 * time.Second

// SecretToken is the operator token of a release, read with the user's kube credentials
// from the Secret its managers mount (so RBAC on that Secret decides who may change the
// grid), once, on the first change a command sends; a failed read is tried again on the
// next. A release whose managers mount no token (global.operatorToken.enabled=false), or
// without a manager StatefulSet in namespace, gives "".
func SecretToken(kube kubernetes.Interface, namespace, release string) func() (string, error) {
	var mu sync.Mutex
	var token string
	read := false
	return func() (string, error) {
		mu.Lock()
		defer mu.Unlock()
		if read {
			return token, nil
		}
		ctx, cancel := context.WithTimeout(context.Background(), tokenTimeout)
		defer cancel()
		t, err := readToken(ctx, kube, namespace, release)
		if err != nil {
			return "", err
		}
		token, read = t, true
		return token, nil
	}
}

// readToken finds the Secret and key the release's manager StatefulSet mounts as the
// operator-token volume and reads the token in it.
func readToken(ctx context.Context, kube kubernetes.Interface, namespace, release string) (string, error) {
	sets, err := kube.AppsV1().StatefulSets(namespace).List(ctx, metav1.ListOptions{LabelSelector: managerSelector(release)})
	if err != nil {
		return "", fmt.Errorf("finding the operator token of release %s: listing its manager StatefulSet in namespace %s: %w", release, namespace, err)
	}
	if len(sets.Items) == 0 {
		// No manager of the release here (a --manager-url elsewhere): nothing to read;
		// a manager that wants a token says so (401).
		return "", nil
	}
	name, key := "", ""
	for _, v := range sets.Items[0].Spec.Template.Spec.Volumes {
		if v.Name == tokenVolume && v.Secret != nil {
			name, key = v.Secret.SecretName, "token"
			if len(v.Secret.Items) > 0 {
				key = v.Secret.Items[0].Key
			}
		}
	}
	if name == "" {
		return "", nil // the release runs without the token: nothing to present
	}
	s, err := kube.CoreV1().Secrets(namespace).Get(ctx, name, metav1.GetOptions{})
	switch {
	case apierrors.IsForbidden(err):
		return "", fmt.Errorf("changing the grid of release %s needs its operator token, in Secret %s/%s, which your credentials may not read: "+
			"ask for a Role granting get on secrets named %s in namespace %s (who may read it may operate the grid): %w", release, namespace, name, name, namespace, err)
	case apierrors.IsNotFound(err):
		return "", fmt.Errorf("changing the grid of release %s needs its operator token, but Secret %s/%s, which its managers mount, does not exist: "+
			"recreate it (global.operatorToken.existingSecret) or run helm upgrade to make a new one", release, namespace, name)
	case err != nil:
		return "", fmt.Errorf("reading the operator token of release %s from Secret %s/%s: %w", release, namespace, name, err)
	}
	t := strings.TrimSpace(string(s.Data[key]))
	if t == "" {
		return "", fmt.Errorf("the operator token of release %s: Secret %s/%s has no key %q or it is empty", release, namespace, name, key)
	}
	return t, nil
}
