{{/*
Thin wrappers over insight-common for the SQL endpoint chart.
*/}}

{{/*
"<base>-sql": the Deployment, Service, PodDisruptionBudget and ServiceAccount.
Usage:
{{ include "insight-sql.fullname" . }}
*/}}
{{- define "insight-sql.fullname" -}}
{{- include "insight-common.names.component" (dict "component" "sql" "context" .) -}}
{{- end -}}

{{/*
The grid's seeds for --grid: sql.grid, else the client Service of the release's PUs
("<base>-pu.<namespace>.svc.<clusterDomain>:6379"). The endpoint asks a seed for the slot
map (CLUSTER SLOTS) and then talks to each data pod by the address the map gives, so one
seed is enough; the Service's port is the pods' own, as a cluster without kube-proxy
needs.
Usage:
{{ include "insight-sql.grid" . }}
*/}}
{{- define "insight-sql.grid" -}}
{{- if .Values.grid -}}
{{- .Values.grid -}}
{{- else -}}
{{- printf "%s:6379" (include "insight-common.names.serviceDomain" (dict "service" (include "insight-common.names.component" (dict "component" "pu" "context" .)) "context" .)) -}}
{{- end -}}
{{- end -}}

{{/*
Labels of every SQL endpoint object.
Usage:
{{ include "insight-sql.labels" . }}
*/}}
{{- define "insight-sql.labels" -}}
{{- include "insight-common.labels.standard" (dict "name" "insight-sql" "component" "sql" "context" .) -}}
{{- end -}}

{{/*
Labels selecting the SQL endpoint pods.
Usage:
{{ include "insight-sql.matchLabels" . }}
*/}}
{{- define "insight-sql.matchLabels" -}}
{{- include "insight-common.labels.matchLabels" (dict "name" "insight-sql" "component" "sql" "context" .) -}}
{{- end -}}

{{/*
Messages for the SQL endpoint values that break a cross-field rule; prefix is how the user
reaches the keys ("" standalone, "sql." in the umbrella).
Usage:
{{ include "insight-sql.validateValues.messages" (dict "values" .Values "prefix" "" "context" $) }}
*/}}
{{- define "insight-sql.validateValues.messages" -}}
{{- $v := .values -}}
{{- include "insight-common.resources.validateRequests" (dict "resources" $v.resources "key" (printf "%sresources" .prefix)) }}
{{- end -}}

{{/*
Fails with every message at once. As a subchart of insight, the umbrella validates instead.
Usage:
{{ include "insight-sql.validateValues" . }}
*/}}
{{- define "insight-sql.validateValues" -}}
{{- if not (include "insight-common.validations.isSubchart" (dict "context" .)) -}}
{{- $messages := list (include "insight-sql.validateValues.messages" (dict "values" .Values "prefix" "" "context" .)) (include "insight-common.auth.validate" (dict "context" .)) -}}
{{- include "insight-common.validations.fail" (dict "messages" (join "\n" $messages) "context" .) -}}
{{- end -}}
{{- end -}}

{{/*
Warnings printed by NOTES.txt: allowed but probably not what was meant.
Usage:
{{ include "insight-sql.warnings" (dict "values" .Values "prefix" "" "context" $) }}
*/}}
{{- define "insight-sql.warnings" -}}
{{- $v := .values -}}
{{- if and $v.antiAffinity.enabled (lt (int $v.replicas) 2) }}
WARNING: {{ .prefix }}antiAffinity.enabled=true with {{ .prefix }}replicas={{ $v.replicas }}: there is one SQL endpoint, so there is nothing to keep apart.
{{- end }}
{{- if lt (int $v.replicas) 2 }}
NOTE: {{ .prefix }}replicas={{ $v.replicas }}: draining its node leaves no SQL endpoint until the new pod is ready; set {{ .prefix }}replicas=2 or more to keep SQL up through it.
{{- end }}
{{- end -}}
