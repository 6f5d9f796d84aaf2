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
etcd's --initial-cluster: "<pod>=http://<peer host>:2380,...", https with TLS (etcd's
peers then speak mutual TLS).
Usage:
{{ include "insight-manager.initialCluster" . }}
*/}}
{{- define "insight-manager.initialCluster" -}}
{{- $members := list -}}
{{- $scheme := ternary "https" "http" (eq (include "insight-common.tls.enabled" (dict "context" .)) "true") -}}
{{- range $i := until (int (include "insight-manager.replicas" .)) -}}
{{- $members = append $members (printf "%s-%d=%s://%s:2380" (include "insight-manager.fullname" $) $i $scheme (include "insight-manager.peerHost" (dict "index" $i "context" $))) -}}
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
{{- include "insight-common.tls.validate" (dict "context" .context) }}
{{- end -}}

{{/*
On an upgrade, ha may grow the managers from 1 to 3: the new members join the running
etcd cluster as learners, one at a time, and are promoted once in sync. It may shrink them
from 3 to 1 only once the two members that go have left etcd's membership (insightctl
scale --manager-ha=false removes them, then sets the StatefulSet's
insight.io/etcd-members to 1): scaled away while members, they would take the quorum with
them. It reads the release's manager StatefulSet with lookup, which finds nothing under
helm template or a client-side dry run.
*/}}
{{- define "insight-manager.validateMemberCount" -}}
{{- $ctx := .context -}}
{{- $want := ternary 3 1 (.values.ha | default false) -}}
{{- $ns := default $ctx.Release.Namespace .values.namespaceOverride | trunc 63 | trimSuffix "-" -}}
{{- range (lookup "apps/v1" "StatefulSet" $ns "").items | default list -}}
{{- $l := .metadata.labels | default dict -}}
{{- if and (eq (get $l "app.kubernetes.io/instance") $ctx.Release.Name) (eq (get $l "app.kubernetes.io/name") "insight-manager") -}}
{{- $have := int (default 1 (.spec | default dict).replicas) -}}
{{- $members := int (get (.metadata.annotations | default dict) "insight.io/etcd-members" | default $have) -}}
{{- if and (lt (int $want) $have) (gt $members (int $want)) }}
{{ $.prefix }}ha={{ eq (int $want) 3 }} but release {{ $ctx.Release.Name }} runs {{ $have }} managers ({{ .metadata.name }}), all members of their etcd cluster: scaled away as members they would take its quorum with them. Run 'insightctl scale {{ $ctx.Release.Name }} -n {{ $ns }} --manager-ha=false', which removes them from etcd first, or keep {{ $.prefix }}ha=true.
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
