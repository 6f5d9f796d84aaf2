package agent

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	securejoin "github.com/cyphar/filepath-securejoin"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/insightgrid/insight/e2e/nodeagent/podenv"
	"github.com/insightgrid/insight/e2e/nodeagent/sandbox"
)

// errNotReady marks a volume that may become usable later (an unbound claim).
type errNotReady struct{ msg string }

func (e errNotReady) Error() string { return e.msg }

// prepareVolumes materializes every pod volume as a host directory and returns them by name.
// ConfigMap, Secret, downward API and projected volumes are written once, at pod start.
func (w *podWorker) prepareVolumes(ctx context.Context) (map[string]string, error) {
	pod := w.podSnapshot()
	out := map[string]string{}
	for _, v := range pod.Spec.Volumes {
		dir := filepath.Join(w.dir, "volumes", v.Name)
		var err error
		switch {
		case v.EmptyDir != nil:
			err = mkdirMode(dir, 0o777)
		case v.PersistentVolumeClaim != nil:
			dir, err = w.claimPath(v.PersistentVolumeClaim.ClaimName)
		case v.HostPath != nil:
			dir = v.HostPath.Path
			if v.HostPath.Type != nil && (*v.HostPath.Type == corev1.HostPathDirectoryOrCreate) {
				err = os.MkdirAll(dir, 0o755)
			}
		case v.ConfigMap != nil:
			err = w.writeConfigMap(dir, v.ConfigMap.Name, v.ConfigMap.Items, v.ConfigMap.Optional, v.ConfigMap.DefaultMode)
		case v.Secret != nil:
			err = w.writeSecret(dir, v.Secret.SecretName, v.Secret.Items, v.Secret.Optional, v.Secret.DefaultMode)
		case v.DownwardAPI != nil:
			err = w.writeDownward(dir, v.DownwardAPI.Items, v.DownwardAPI.DefaultMode)
		case v.Projected != nil:
			err = w.writeProjected(ctx, dir, v.Projected)
		default:
			err = fmt.Errorf("volume type not supported by the insight node agent (supported: emptyDir, persistentVolumeClaim, hostPath, configMap, secret, downwardAPI, projected)")
		}
		if err != nil {
			return nil, fmt.Errorf("volume %q: %w", v.Name, err)
		}
		if g := pod.Spec.SecurityContext; g != nil && g.FSGroup != nil && v.HostPath == nil {
			// kubelet gives secret, configMap, downward API and projected volumes group read only.
			readOnly := v.EmptyDir == nil && v.PersistentVolumeClaim == nil
			if err := chownGroup(dir, int(*g.FSGroup), readOnly); err != nil {
				return nil, fmt.Errorf("volume %q: fsGroup: %w", v.Name, err)
			}
		}
		out[v.Name] = dir
	}
	return out, nil
}

func (w *podWorker) claimPath(claim string) (string, error) {
	ns := w.podSnapshot().Namespace
	pvc, err := w.a.pvcLister.PersistentVolumeClaims(ns).Get(claim)
	if err != nil {
		return "", errNotReady{fmt.Sprintf("persistentvolumeclaim %q not found", claim)}
	}
	if pvc.Status.Phase != corev1.ClaimBound || pvc.Spec.VolumeName == "" {
		return "", errNotReady{fmt.Sprintf("persistentvolumeclaim %q is not bound yet (phase %s)", claim, pvc.Status.Phase)}
	}
	pv, err := w.a.pvLister.Get(pvc.Spec.VolumeName)
	if err != nil {
		return "", errNotReady{fmt.Sprintf("persistentvolume %q of claim %q not found", pvc.Spec.VolumeName, claim)}
	}
	switch {
	case pv.Spec.HostPath != nil:
		return pv.Spec.HostPath.Path, os.MkdirAll(pv.Spec.HostPath.Path, 0o777)
	case pv.Spec.Local != nil:
		return pv.Spec.Local.Path, nil
	}
	return "", fmt.Errorf("persistentvolume %q is neither hostPath nor local: the node agent cannot mount it", pv.Name)
}

func mkdirMode(dir string, mode os.FileMode) error {
	if err := os.MkdirAll(dir, mode); err != nil {
		return err
	}
	return os.Chmod(dir, mode)
}

// chownGroup applies fsGroup like kubelet: group ownership, group read (and write unless
// readOnly), setgid and group search on dirs.
func chownGroup(dir string, gid int, readOnly bool) error {
	mask := os.FileMode(0o060)
	if readOnly {
		mask = 0o040
	}
	return filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		if err := os.Lchown(p, -1, gid); err != nil {
			return err
		}
		if fi.Mode()&os.ModeSymlink != 0 {
			return nil
		}
		mode := fi.Mode() | mask
		if fi.IsDir() {
			mode |= os.ModeSetgid | 0o010
		}
		return os.Chmod(p, mode)
	})
}

type file struct {
	path string
	data []byte
	mode *int32
}

func writeFiles(dir string, files []file, defaultMode *int32) error {
	if err := mkdirMode(dir, 0o755); err != nil {
		return err
	}
	for _, f := range files {
		p, err := securejoin.SecureJoin(dir, f.path)
		if err != nil {
			return err
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		mode := os.FileMode(0o644)
		if defaultMode != nil {
			mode = os.FileMode(*defaultMode)
		}
		if f.mode != nil {
			mode = os.FileMode(*f.mode)
		}
		if err := os.WriteFile(p, f.data, mode); err != nil {
			return err
		}
		if err := os.Chmod(p, mode); err != nil {
			return err
		}
	}
	return nil
}

func keyFiles(data map[string][]byte, items []corev1.KeyToPath, optional bool) ([]file, error) {
	if len(items) == 0 {
		var out []file
		for k, v := range data {
			out = append(out, file{path: k, data: v})
		}
		return out, nil
	}
	var out []file
	for _, it := range items {
		v, ok := data[it.Key]
		if !ok {
			if optional {
				continue
			}
			return nil, fmt.Errorf("key %q not found", it.Key)
		}
		out = append(out, file{path: it.Path, data: v, mode: it.Mode})
	}
	return out, nil
}

func (w *podWorker) configMapFiles(name string, items []corev1.KeyToPath, optional *bool) ([]file, error) {
	cm, err := w.a.ConfigMap(w.podSnapshot().Namespace, name)
	if err != nil {
		if apierrors.IsNotFound(err) && ptr.Deref(optional, false) {
			return nil, nil
		}
		return nil, fmt.Errorf("configmap %q: %w", name, err)
	}
	data := map[string][]byte{}
	for k, v := range cm.Data {
		data[k] = []byte(v)
	}
	for k, v := range cm.BinaryData {
		data[k] = v
	}
	files, err := keyFiles(data, items, ptr.Deref(optional, false))
	if err != nil {
		return nil, fmt.Errorf("configmap %q: %w", name, err)
	}
	return files, nil
}

func (w *podWorker) secretFiles(name string, items []corev1.KeyToPath, optional *bool) ([]file, error) {
	s, err := w.a.Secret(w.podSnapshot().Namespace, name)
	if err != nil {
		if apierrors.IsNotFound(err) && ptr.Deref(optional, false) {
			return nil, nil
		}
		return nil, fmt.Errorf("secret %q: %w", name, err)
	}
	files, err := keyFiles(s.Data, items, ptr.Deref(optional, false))
	if err != nil {
		return nil, fmt.Errorf("secret %q: %w", name, err)
	}
	return files, nil
}

func (w *podWorker) writeConfigMap(dir, name string, items []corev1.KeyToPath, optional *bool, mode *int32) error {
	files, err := w.configMapFiles(name, items, optional)
	if err != nil {
		return err
	}
	return writeFiles(dir, files, mode)
}

func (w *podWorker) writeSecret(dir, name string, items []corev1.KeyToPath, optional *bool, mode *int32) error {
	files, err := w.secretFiles(name, items, optional)
	if err != nil {
		return err
	}
	return writeFiles(dir, files, mode)
}

func (w *podWorker) downwardFiles(items []corev1.DownwardAPIVolumeFile) ([]file, error) {
	ctx := w.envContext()
	var out []file
	for _, it := range items {
		var v string
		var err error
		switch {
		case it.FieldRef != nil:
			v, err = podenv.FieldValue(it.FieldRef.FieldPath, ctx)
		case it.ResourceFieldRef != nil:
			c := &ctx.Pod.Spec.Containers[0]
			v, err = podenv.ResourceValue(it.ResourceFieldRef, c, ctx)
		}
		if err != nil {
			return nil, fmt.Errorf("downwardAPI item %q: %w", it.Path, err)
		}
		out = append(out, file{path: it.Path, data: []byte(v), mode: it.Mode})
	}
	return out, nil
}

func (w *podWorker) writeDownward(dir string, items []corev1.DownwardAPIVolumeFile, mode *int32) error {
	files, err := w.downwardFiles(items)
	if err != nil {
		return err
	}
	return writeFiles(dir, files, mode)
}

func (w *podWorker) writeProjected(ctx context.Context, dir string, p *corev1.ProjectedVolumeSource) error {
	pod := w.podSnapshot()
	var files []file
	for _, s := range p.Sources {
		var fs []file
		var err error
		switch {
		case s.ConfigMap != nil:
			fs, err = w.configMapFiles(s.ConfigMap.Name, s.ConfigMap.Items, s.ConfigMap.Optional)
		case s.Secret != nil:
			fs, err = w.secretFiles(s.Secret.Name, s.Secret.Items, s.Secret.Optional)
		case s.DownwardAPI != nil:
			fs, err = w.downwardFiles(s.DownwardAPI.Items)
		case s.ServiceAccountToken != nil:
			var tok string
			tok, err = w.token(ctx, pod, s.ServiceAccountToken)
			fs = []file{{path: s.ServiceAccountToken.Path, data: []byte(tok)}}
		default:
			err = fmt.Errorf("projected source not supported (supported: configMap, secret, downwardAPI, serviceAccountToken)")
		}
		if err != nil {
			return err
		}
		files = append(files, fs...)
	}
	return writeFiles(dir, files, p.DefaultMode)
}

func (w *podWorker) token(ctx context.Context, pod *corev1.Pod, s *corev1.ServiceAccountTokenProjection) (string, error) {
	var aud []string
	if s.Audience != "" {
		aud = []string{s.Audience}
	}
	sa := pod.Spec.ServiceAccountName
	if sa == "" {
		sa = "default"
	}
	tr, err := w.a.cs.CoreV1().ServiceAccounts(pod.Namespace).CreateToken(ctx, sa, &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{
			Audiences: aud, ExpirationSeconds: s.ExpirationSeconds,
			BoundObjectRef: &authenticationv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: pod.Name, UID: pod.UID},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		return "", fmt.Errorf("service account token for %q: %w", sa, err)
	}
	return tr.Status.Token, nil
}

// mounts turns the container's volumeMounts into sandbox bind mounts.
func mounts(c *corev1.Container, vols map[string]string, vars []podenv.Var) ([]sandbox.Mount, error) {
	env := map[string]string{}
	for _, v := range vars {
		env[v.Name] = v.Value
	}
	var out []sandbox.Mount
	for _, m := range c.VolumeMounts {
		src, ok := vols[m.Name]
		if !ok {
			return nil, fmt.Errorf("volumeMount %q: no pod volume of that name", m.Name)
		}
		sub := m.SubPath
		if m.SubPathExpr != "" {
			sub = podenv.Expand(m.SubPathExpr, env)
		}
		if sub != "" {
			if strings.HasPrefix(sub, "/") || strings.Contains("/"+sub+"/", "/../") {
				return nil, fmt.Errorf("volumeMount %q: subPath %q must be relative and stay inside the volume", m.Name, sub)
			}
			p := filepath.Join(src, sub)
			if _, err := os.Stat(p); os.IsNotExist(err) {
				if err := os.MkdirAll(p, 0o777); err != nil {
					return nil, fmt.Errorf("volumeMount %q: create subPath: %w", m.Name, err)
				}
			}
			src = p
		}
		out = append(out, sandbox.Mount{Source: src, Target: m.MountPath, ReadOnly: m.ReadOnly})
	}
	return out, nil
}
