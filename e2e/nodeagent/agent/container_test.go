package agent

import (
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"

	"github.com/insightgrid/insight/e2e/nodeagent/image"
)

func TestIdentity(t *testing.T) {
	img := func(user string) *image.Image { return &image.Image{Ref: "x", Config: v1.Config{User: user}} }
	tests := []struct {
		name     string
		pod      *corev1.PodSecurityContext
		ctr      *corev1.SecurityContext
		user     string
		uid, gid uint32
		wantErr  bool
	}{
		{name: "image user and group", user: "65532:65532", uid: 65532, gid: 65532},
		{name: "image default root", uid: 0, gid: 0},
		{name: "pod overrides image", pod: &corev1.PodSecurityContext{RunAsUser: ptr.To(int64(1000)), RunAsGroup: ptr.To(int64(3000))}, user: "65532", uid: 1000, gid: 3000},
		{name: "container overrides pod", pod: &corev1.PodSecurityContext{RunAsUser: ptr.To(int64(1000))}, ctr: &corev1.SecurityContext{RunAsUser: ptr.To(int64(2000))}, uid: 2000},
		{name: "runAsNonRoot with image root", pod: &corev1.PodSecurityContext{RunAsNonRoot: ptr.To(true)}, wantErr: true},
		{name: "runAsNonRoot with explicit uid 0", ctr: &corev1.SecurityContext{RunAsUser: ptr.To(int64(0)), RunAsNonRoot: ptr.To(true)}, user: "1000", wantErr: true},
		{name: "runAsNonRoot satisfied by image", pod: &corev1.PodSecurityContext{RunAsNonRoot: ptr.To(true)}, user: "65532", uid: 65532},
		{name: "named image user", user: "nobody", wantErr: true},
		{name: "named image user with runAsUser", user: "nobody", pod: &corev1.PodSecurityContext{RunAsUser: ptr.To(int64(5))}, uid: 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pod := &corev1.Pod{Spec: corev1.PodSpec{SecurityContext: tt.pod}}
			c := &corev1.Container{SecurityContext: tt.ctr}
			uid, gid, err := identity(pod, c, img(tt.user))
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if err == nil && (uid != tt.uid || gid != tt.gid) {
				t.Fatalf("uid:gid = %d:%d, want %d:%d", uid, gid, tt.uid, tt.gid)
			}
		})
	}
}
