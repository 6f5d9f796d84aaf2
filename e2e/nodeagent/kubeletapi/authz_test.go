package kubeletapi

import (
	"context"
	"testing"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

func TestSubjectAccessReviewsAskForNodesProxyAndCache(t *testing.T) {
	cs := fake.NewClientset()
	var asked []authorizationv1.SubjectAccessReviewSpec
	cs.PrependReactor("create", "subjectaccessreviews", func(a k8stesting.Action) (bool, runtime.Object, error) {
		sar := a.(k8stesting.CreateAction).GetObject().(*authorizationv1.SubjectAccessReview)
		asked = append(asked, sar.Spec)
		sar.Status.Allowed = sar.Spec.User == "kube-apiserver-kubelet-client"
		return true, sar, nil
	})
	authz := NewSubjectAccessReviews(cs.AuthorizationV1().SubjectAccessReviews())
	now := time.Date(2026, 12, 5, 18, 0, 0, 0, time.UTC)
	authz.now = func() time.Time { return now }
	apiserver := User{Name: "kube-apiserver-kubelet-client", Groups: []string{"system:masters"}}
	someone := User{Name: "someone"}
	check := func(u User, want bool) {
		t.Helper()
		got, err := authz.Allowed(context.Background(), u, "create", "node-a")
		if err != nil || got != want {
			t.Fatalf("Allowed(%s) = %v, %v; want %v", u.Name, got, err, want)
		}
	}
	check(apiserver, true)
	check(someone, false)
	check(apiserver, true) // cached
	check(someone, false)  // cached
	if len(asked) != 2 {
		t.Fatalf("%d reviews, want 2 (answers cached)", len(asked))
	}
	ra := asked[0].ResourceAttributes
	if asked[0].User != apiserver.Name || len(asked[0].Groups) != 1 || ra == nil ||
		ra.Verb != "create" || ra.Resource != "nodes" || ra.Subresource != "proxy" || ra.Name != "node-a" {
		t.Errorf("review asked %+v %+v", asked[0], ra)
	}
	now = now.Add(deniedTTL + time.Second)
	check(someone, false)
	check(apiserver, true)
	if len(asked) != 3 {
		t.Errorf("%d reviews after the denial expired, want 3 (the allowance lasts longer)", len(asked))
	}
}
