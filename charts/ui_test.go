package charts_test

import (
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// TestManagerUIValues: manager.ui.* reach the managers' flags, and the optional Ingress
// routes every path of its host to the managers' Service (the pages read the API).
func TestManagerUIValues(t *testing.T) {
	objs := renderObjects(t, secrets(), false, "")
	_, ctr := podSpec(t, objs, managerSts)
	if env := envOf(ctr); env["INSIGHT_UI"] != "true" || env["INSIGHT_UI_READ_ONLY"] != "false" {
		t.Fatalf("defaults: INSIGHT_UI=%q INSIGHT_UI_READ_ONLY=%q, want the UI on, with its actions", env["INSIGHT_UI"], env["INSIGHT_UI_READ_ONLY"])
	}
	ingress := "Ingress/" + releaseName + "-insight-manager-ui"
	if _, ok := objs[ingress]; ok {
		t.Fatalf("%s rendered by default", ingress)
	}

	objs = renderObjects(t, secrets(), false, "manager.ui.readOnly=true,manager.ui.ingress.enabled=true,manager.ui.ingress.host=insight.example.com,"+
		"manager.ui.ingress.tlsSecretName=insight-ui-tls,manager.ui.ingress.className=nginx")
	_, ctr = podSpec(t, objs, managerSts)
	if env := envOf(ctr); env["INSIGHT_UI_READ_ONLY"] != "true" {
		t.Fatalf("manager.ui.readOnly=true: INSIGHT_UI_READ_ONLY=%q", env["INSIGHT_UI_READ_ONLY"])
	}
	ing, ok := objs[ingress]
	if !ok {
		t.Fatalf("no %s with manager.ui.ingress.enabled", ingress)
	}
	rules, _, _ := unstructured.NestedSlice(ing, "spec", "rules")
	tls, _, _ := unstructured.NestedSlice(ing, "spec", "tls")
	class, _, _ := unstructured.NestedString(ing, "spec", "ingressClassName")
	if len(rules) != 1 || len(tls) != 1 || class != "nginx" {
		t.Fatalf("ingress spec %v", ing["spec"])
	}
	rule := rules[0].(map[string]any)
	paths, _, _ := unstructured.NestedSlice(rule, "http", "paths")
	svc, _, _ := unstructured.NestedString(paths[0].(map[string]any), "backend", "service", "name")
	if rule["host"] != "insight.example.com" || len(paths) != 1 || paths[0].(map[string]any)["path"] != "/" || svc != releaseName+"-insight-manager" {
		t.Fatalf("ingress rule %v: want every path of insight.example.com to the managers' Service", rule)
	}

	objs = renderObjects(t, secrets(), false, "manager.ui.enabled=false,manager.ui.ingress.enabled=true,manager.ui.ingress.host=insight.example.com")
	if _, ok := objs[ingress]; ok {
		t.Fatalf("%s rendered with manager.ui.enabled=false", ingress)
	}
	_, ctr = podSpec(t, objs, managerSts)
	if env := envOf(ctr); env["INSIGHT_UI"] != "false" {
		t.Fatalf("manager.ui.enabled=false: INSIGHT_UI=%q", env["INSIGHT_UI"])
	}
}
