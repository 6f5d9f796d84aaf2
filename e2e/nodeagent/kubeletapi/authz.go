package kubeletapi

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	authorizationclient "k8s.io/client-go/kubernetes/typed/authorization/v1"
)

// User is the caller named by its client certificate: CN the user, O the groups.
type User struct {
	Name   string
	Groups []string
}

// Authorizer decides whether a user may use a node's kubelet API (nodes/proxy).
type Authorizer interface {
	Allowed(ctx context.Context, u User, verb, node string) (bool, error)
}

// The kubelet's webhook authorization cache durations.
const (
	allowedTTL = 5 * time.Minute
	deniedTTL  = 30 * time.Second
)

// SubjectAccessReviews asks the API server, like a kubelet in webhook authorization mode,
// and caches the answers.
type SubjectAccessReviews struct {
	client authorizationclient.SubjectAccessReviewInterface
	now    func() time.Time

	mu    sync.Mutex
	cache map[string]decision
}

type decision struct {
	allowed bool
	until   time.Time
}

// NewSubjectAccessReviews returns an Authorizer backed by client.
func NewSubjectAccessReviews(client authorizationclient.SubjectAccessReviewInterface) *SubjectAccessReviews {
	return &SubjectAccessReviews{client: client, now: time.Now, cache: map[string]decision{}}
}

// Allowed reports whether u may verb nodes/proxy of node.
func (a *SubjectAccessReviews) Allowed(ctx context.Context, u User, verb, node string) (bool, error) {
	key := strings.Join([]string{u.Name, strings.Join(u.Groups, ","), verb, node}, "\x00")
	a.mu.Lock()
	d, ok := a.cache[key]
	a.mu.Unlock()
	if ok && a.now().Before(d.until) {
		return d.allowed, nil
	}
	sar, err := a.client.Create(ctx, &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
		User: u.Name, Groups: u.Groups,
		ResourceAttributes: &authorizationv1.ResourceAttributes{Verb: verb, Resource: "nodes", Subresource: "proxy", Name: node},
	}}, metav1.CreateOptions{})
	if err != nil {
		return false, fmt.Errorf("subject access review for %s: %w", u.Name, err)
	}
	d = decision{allowed: sar.Status.Allowed, until: a.now().Add(deniedTTL)}
	if d.allowed {
		d.until = a.now().Add(allowedTTL)
	}
	a.mu.Lock()
	a.cache[key] = d
	a.mu.Unlock()
	return d.allowed, nil
}
