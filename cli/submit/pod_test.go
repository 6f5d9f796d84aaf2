package submit

import (
	"strings"
	"testing"
)

// TestParseTemplate checks that a driver template without what the driver's arguments
// refer to is refused with a message that says so, rather than a driver that cannot start.
func TestParseTemplate(t *testing.T) {
	const good = `apiVersion: v1
kind: Pod
spec:
  containers:
    - name: spark-kubernetes-driver
      env:
        - name: SPARK_LOCAL_IP
          valueFrom: {fieldRef: {fieldPath: status.podIP}}
        - name: SPARK_DRIVER_POD_NAME
          valueFrom: {fieldRef: {fieldPath: metadata.name}}
`
	if _, err := ParseTemplate(good); err != nil {
		t.Fatalf("good template: %v", err)
	}
	for _, tt := range []struct{ name, text, want string }{
		{"no pod IP", strings.Replace(good, "SPARK_LOCAL_IP", "OTHER", 1), "no SPARK_LOCAL_IP variable"},
		{"no pod name", strings.Replace(good, "SPARK_DRIVER_POD_NAME", "OTHER", 1), "no SPARK_DRIVER_POD_NAME variable"},
		{"two containers", good + "    - name: sidecar\n", "2 containers, want 1"},
		{"unknown field", strings.Replace(good, "kind: Pod", "kind: Pod\nspecs: {}", 1), "unknown field"},
	} {
		if _, err := ParseTemplate(tt.text); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %v, want one containing %q", tt.name, err, tt.want)
		}
	}
}
