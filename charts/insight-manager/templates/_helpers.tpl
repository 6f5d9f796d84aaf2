{{/*
Thin wrappers over insight-common for the manager chart.
*/}}

{{/*
"<base>-manager": the StatefulSet, REST Service, ConfigMap, PDB and ServiceAccount.
Usage:
{{ include "insight-manager.fullname" . }}
*/}}
{{- define "insight-manager.fullname" -}}
{{- include "insight-common.names.component" (dict "component" "manager" "context" .) -}}
{{- end -}}

{{/*
The headless Service that gives each manager its stable DNS name for etcd.
Usage:
{{ include "insight-manager.headless" . }}
*/}}
{{- define "insight-manager.headless" -}}
{{- printf "%s-headless" (include "insight-manager.fullname" .) -}}
{{- end -}}

{{/*
Number of managers: 3 with ha (etcd tolerates one failure), else 1.
Usage:
{{ include "insight-manager.replicas" . }}
*/}}
{{- define "insight-manager.replicas" -}}
{{- ternary 3 1 .Values.ha -}}
{{- end -}}

{{/*
The stable DNS name of manager n: "<pod>.<headless>.<namespace>.svc.<clusterDomain>".
Usage:
{{ include "insight-manager.peerHost" (dict "index" 0 "context" $) }}
*/}}
{{- define "insight-manager.peerHost" -}}
{{- printf "%s-%d.%s" (include "insight-manager.fullname" .context) (int .index) (include "insight-common.names.serviceDomain" (dict "service" (include "insight-manager.headless" .context) "context" .context)) -}}
{{- end -}}

{{/*
etcd's --initial-cluster: "<pod>=http://<peer host>:2380,...".
Usage:
{{ include "insight-manager.initialCluster" . }}
*/}}
{{- define "insight-manager.initialCluster" -}}
{{- $members := list -}}
{{- range $i := until (int (include "insight-manager.replicas" .)) -}}
{{- $members = append $members (printf "%s-%d=http://%s:2380" (include "insight-manager.fullname" $) $i (include "insight-manager.peerHost" (dict "index" $i "context" $))) -}}
{{- end -}}
{{- join "," $members -}}
{{- end -}}

{{/*
The managers' etcd client endpoints "<peer host>:2379,...", for the PUs.
Usage:
{{ include "insight-manager.etcdEndpoints" . }}
*/}}
{{- define "insight-manager.etcdEndpoints" -}}
{{- $endpoints := list -}}
{{- range $i := until (int (include "insight-manager.replicas" .)) -}}
{{- $endpoints = append $endpoints (printf "%s:2379" (include "insight-manager.peerHost" (dict "index" $i "context" $))) -}}
{{- end -}}
{{- join "," $endpoints -}}
{{- end -}}

{{/*
Labels of every manager object.
Usage:
{{ include "insight-manager.labels" . }}
*/}}
{{- define "insight-manager.labels" -}}
{{- include "insight-common.labels.standard" (dict "name" "insight-manager" "component" "manager" "context" .) -}}
{{- end -}}

{{/*
Labels selecting the manager pods.
Usage:
{{ include "insight-manager.matchLabels" . }}
*/}}
{{- define "insight-manager.matchLabels" -}}
{{- include "insight-common.labels.matchLabels" (dict "name" "insight-manager" "component" "manager" "context" .) -}}
{{- end -}}

{{/*
Messages for the manager values that break a cross-field rule; prefix is how the user
reaches the keys ("" standalone, "manager." in the umbrella).
Usage:
{{ include "insight-manager.validateValues.messages" (dict "values" .Values "prefix" "" "context" $) }}
*/}}
{{- define "insight-manager.validateValues.messages" -}}
{{- $v := .values -}}
{{- include "insight-common.resources.validateRequests" (dict "resources" $v.resources "key" (printf "%sresources" .prefix)) }}
{{- if and $v.ha (not $v.persistence.enabled) }}
{{ .prefix }}ha=true needs {{ .prefix }}persistence.enabled=true: an etcd member that restarts without its data cannot rejoin its cluster.
{{- end }}
{{- include "insight-manager.validateMemberCount" . }}
{{- end -}}

{{/*
On an upgrade, ha may not change the number of managers: each member's etcd was started
with a static initial cluster of 1 or 3, so a StatefulSet scaled from 1 to 3 (or back)
would start members that no cluster knows, or drop two of three at once. Growing and
shrinking the etcd cluster online (member add, learner first) is not done yet: the
upgrade is refused before anything changes. It reads the release's manager StatefulSet
with lookup, which finds nothing under helm template or a client-side dry run.
*/}}
{{- define "insight-manager.validateMemberCount" -}}
{{- $ctx := .context -}}
{{- $want := ternary 3 1 (.values.ha | default false) -}}
{{- $ns := default $ctx.Release.Namespace .values.namespaceOverride | trunc 63 | trimSuffix "-" -}}
{{- range (lookup "apps/v1" "StatefulSet" $ns "").items | default list -}}
{{- $l := .metadata.labels | default dict -}}
{{- if and (eq (get $l "app.kubernetes.io/instance") $ctx.Release.Name) (eq (get $l "app.kubernetes.io/name") "insight-manager") -}}
{{- $have := int (default 1 (.spec | default dict).replicas) -}}
{{- if ne $have (int $want) }}
{{ $.prefix }}ha={{ eq (int $want) 3 }} but release {{ $ctx.Release.Name }} runs {{ $have }} manager{{ if ne $have 1 }}s{{ end }} ({{ .metadata.name }}): the managers' etcd cluster cannot grow from 1 to 3 members or shrink back on a running release yet. Keep {{ $.prefix }}ha={{ eq $have 3 }} on this release; {{ $.prefix }}ha={{ eq (int $want) 3 }} takes a new install.
{{- end }}
{{- end -}}
{{- end -}}
{{- end -}}

{{/*
Fails with every message at once. As a subchart of insight, the umbrella validates instead.
Usage:
{{ include "insight-manager.validateValues" . }}
*/}}
{{- define "insight-manager.validateValues" -}}
{{- if not (include "insight-common.validations.isSubchart" (dict "context" .)) -}}
{{- include "insight-common.validations.fail" (dict "messages" (include "insight-manager.validateValues.messages" (dict "values" .Values "prefix" "" "context" .)) "context" .) -}}
{{- end -}}
{{- end -}}

{{/*
Warnings printed by NOTES.txt: allowed but probably not what was meant.
Usage:
{{ include "insight-manager.warnings" (dict "values" .Values "prefix" "" "context" $) }}
*/}}
{{- define "insight-manager.warnings" -}}
{{- $v := .values -}}
{{- if not $v.persistence.enabled }}
WARNING: {{ .prefix }}persistence.enabled=false: the partition map lives in an emptyDir and is lost when the manager pod goes.
{{- end }}
{{- if and $v.antiAffinity.enabled (not $v.ha) }}
WARNING: {{ .prefix }}antiAffinity.enabled=true with {{ .prefix }}ha=false: there is one manager, so there is nothing to keep apart.
{{- end }}
{{- end -}}
