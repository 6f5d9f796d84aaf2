package agent

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/ptr"
)

const (
	// StorageClassName is the default class the agent provisions.
	StorageClassName = "insight-local"
	// Provisioner is the provisioner name of StorageClassName.
	Provisioner        = "insight.dev/local-path"
	provisionedByAnnot = "pv.kubernetes.io/provisioned-by"
	defaultClassAnnot  = "storageclass.kubernetes.io/is-default-class"
)

func (a *Agent) ensureStorageClass(ctx context.Context) error {
	sc := &storagev1.StorageClass{
		ObjectMeta:        metav1.ObjectMeta{Name: StorageClassName, Annotations: map[string]string{defaultClassAnnot: "true"}},
		Provisioner:       Provisioner,
		ReclaimPolicy:     ptr.To(corev1.PersistentVolumeReclaimDelete),
		VolumeBindingMode: ptr.To(storagev1.VolumeBindingImmediate),
	}
	_, err := a.cs.StorageV1().StorageClasses().Create(ctx, sc, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create StorageClass %s: %w", StorageClassName, err)
	}
	return nil
}

func (a *Agent) addProvisioner(ctx context.Context, f informers.SharedInformerFactory) error {
	scLister := f.Storage().V1().StorageClasses().Lister()
	_ = f.Storage().V1().StorageClasses().Informer()
	claimHandler := func(o any) {
		pvc, ok := o.(*corev1.PersistentVolumeClaim)
		if !ok || pvc.Status.Phase != corev1.ClaimPending || pvc.Spec.VolumeName != "" || pvc.DeletionTimestamp != nil {
			return
		}
		class := ""
		if pvc.Spec.StorageClassName != nil {
			class = *pvc.Spec.StorageClassName
		} else if sc, err := scLister.Get(StorageClassName); err == nil && sc.Annotations[defaultClassAnnot] == "true" {
			class = StorageClassName
		}
		if class != StorageClassName {
			return
		}
		if err := a.provision(ctx, pvc); err != nil {
			a.log.Error("provision volume", "pvc", pvc.Namespace+"/"+pvc.Name, "err", err)
		}
	}
	if _, err := f.Core().V1().PersistentVolumeClaims().Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: claimHandler, UpdateFunc: func(_, o any) { claimHandler(o) },
	}); err != nil {
		return fmt.Errorf("add claim handler: %w", err)
	}
	volumeHandler := func(o any) {
		pv, ok := o.(*corev1.PersistentVolume)
		if !ok || pv.Annotations[provisionedByAnnot] != Provisioner || pv.Status.Phase != corev1.VolumeReleased ||
			pv.Spec.PersistentVolumeReclaimPolicy != corev1.PersistentVolumeReclaimDelete || pv.DeletionTimestamp != nil {
			return
		}
		if err := a.deleteVolume(ctx, pv); err != nil {
			a.log.Error("delete released volume", "pv", pv.Name, "err", err)
		}
	}
	if _, err := f.Core().V1().PersistentVolumes().Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: volumeHandler, UpdateFunc: func(_, o any) { volumeHandler(o) },
	}); err != nil {
		return fmt.Errorf("add volume handler: %w", err)
	}
	return nil
}

func (a *Agent) provision(ctx context.Context, pvc *corev1.PersistentVolumeClaim) error {
	name := "pvc-" + string(pvc.UID)
	dir := filepath.Join(a.cfg.StateDir, "volumes", name)
	// World-writable like local-path provisioners: pods may run as any uid.
	if err := os.MkdirAll(dir, 0o777); err != nil {
		return fmt.Errorf("create volume dir: %w", err)
	}
	if err := os.Chmod(dir, 0o777); err != nil {
		return fmt.Errorf("chmod volume dir: %w", err)
	}
	size, ok := pvc.Spec.Resources.Requests[corev1.ResourceStorage]
	if !ok {
		return fmt.Errorf("claim has no spec.resources.requests.storage")
	}
	modes := pvc.Spec.AccessModes
	if len(modes) == 0 {
		modes = []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce}
	}
	pv := &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: name, Annotations: map[string]string{provisionedByAnnot: Provisioner}},
		Spec: corev1.PersistentVolumeSpec{
			Capacity:                      corev1.ResourceList{corev1.ResourceStorage: size},
			AccessModes:                   modes,
			PersistentVolumeReclaimPolicy: corev1.PersistentVolumeReclaimDelete,
			StorageClassName:              StorageClassName,
			VolumeMode:                    pvc.Spec.VolumeMode,
			ClaimRef: &corev1.ObjectReference{
				Kind: "PersistentVolumeClaim", APIVersion: "v1", Namespace: pvc.Namespace, Name: pvc.Name, UID: pvc.UID,
			},
			PersistentVolumeSource: corev1.PersistentVolumeSource{
				HostPath: &corev1.HostPathVolumeSource{Path: dir, Type: ptr.To(corev1.HostPathDirectoryOrCreate)},
			},
		},
	}
	_, err := a.cs.CoreV1().PersistentVolumes().Create(ctx, pv, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create PV %s: %w", name, err)
	}
	if err == nil {
		a.log.Info("provisioned volume", "pv", name, "pvc", pvc.Namespace+"/"+pvc.Name, "size", size.String())
	}
	return nil
}

func (a *Agent) deleteVolume(ctx context.Context, pv *corev1.PersistentVolume) error {
	if pv.Spec.HostPath != nil && filepath.Dir(pv.Spec.HostPath.Path) == filepath.Join(a.cfg.StateDir, "volumes") {
		if err := os.RemoveAll(pv.Spec.HostPath.Path); err != nil {
			return fmt.Errorf("remove volume data: %w", err)
		}
	}
	err := a.cs.CoreV1().PersistentVolumes().Delete(ctx, pv.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &pv.UID}})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("delete PV %s: %w", pv.Name, err)
	}
	a.log.Info("deleted released volume", "pv", pv.Name)
	return nil
}
