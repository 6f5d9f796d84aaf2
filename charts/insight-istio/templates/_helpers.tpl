{{/*
Thin wrappers over insight-common for the Istio add-on. The grid's ports are fixed by the
insight-pu and insight-manager charts: data pods serve RESP (clients, replication and slot
migration) on 6379, HTTP (handover, status) on 8080 and /metrics on 9121; managers serve
etcd's clients on 2379, its peers on 2380, HTTP (the API) on 8090 and /metrics on 9122.
*/}}

{{/*
Labels of every object of the add-on, with the user's labels.
Usage:
{{ include "insight-istio.labels" . }}
*/}}
{{- define "insight-istio.labels" -}}
{{ include "insight-common.labels.standard" (dict "name" "insight-istio" "component" "istio" "context" .) }}
{{- with .Values.labels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/*
The mesh identity of a component's pods: <trustDomain>/ns/<namespace>/sa/<serviceAccount>.
Usage:
{{ include "insight-istio.principal" (dict "component" "pu" "context" $) }}
*/}}
{{- define "insight-istio.principal" -}}
{{- $sa := get .context.Values.serviceAccounts .component | default (include "insight-common.names.component" (dict "component" .component "context" .context)) -}}
{{- printf "%s/ns/%s/sa/%s" .context.Values.trustDomain (include "insight-common.names.namespace" (dict "context" .context)) $sa -}}
{{- end -}}

{{/*
The kinds the chart creates, as .Capabilities.APIVersions names them.
Usage:
{{ include "insight-istio.requiredKinds" (dict "values" .Values) }}
*/}}
{{- define "insight-istio.requiredKinds" -}}
{{- $kinds := list -}}
{{- if .values.peerAuthentication.enabled -}}
{{- $kinds = append $kinds "security.istio.io/v1/PeerAuthentication" -}}
{{- end -}}
{{- if .values.authorizationPolicies.enabled -}}
{{- $kinds = append $kinds "security.istio.io/v1/AuthorizationPolicy" -}}
{{- end -}}
{{- if .values.destinationRules.enabled -}}
{{- $kinds = append $kinds "networking.istio.io/v1/DestinationRule" -}}
{{- end -}}
{{- join " " $kinds -}}
{{- end -}}

{{/*
Messages for values that cannot work; prefix is how the user reaches the keys (""
standalone, "istio." in the umbrella). Objects of a kind the cluster does not serve are
refused, not dropped: a security add-on that silently renders nothing looks installed and
secures nothing.
Usage:
{{ include "insight-istio.validateValues.messages" (dict "values" .Values "prefix" "" "context" $) }}
*/}}
{{- define "insight-istio.validateValues.messages" -}}
{{- $v := .values -}}
{{- $missing := list -}}
{{- range splitList " " (include "insight-istio.requiredKinds" (dict "values" $v)) -}}
{{- if and . (not ($.context.Capabilities.APIVersions.Has .)) -}}
{{- $missing = append $missing . -}}
{{- end -}}
{{- end -}}
{{- if and $missing $v.requireCRDs }}
{{ if .prefix }}{{ .prefix }}enabled=true{{ else }}The insight-istio chart{{ end }} needs Istio's CRDs, but the cluster does not serve {{ join ", " $missing }}: install Istio (istioctl install, or the istio/base Helm chart), or with helm template (or insightctl template) pass{{ range $missing }} --api-versions {{ . }}{{ end }} (set {{ .prefix }}requireCRDs=false only if Istio comes later in the same deployment).
{{- end }}
{{- if and (not $v.peerAuthentication.enabled) (not $v.authorizationPolicies.enabled) (not $v.destinationRules.enabled) }}
{{ .prefix }}peerAuthentication.enabled, {{ .prefix }}authorizationPolicies.enabled and {{ .prefix }}destinationRules.enabled are all false: the add-on would create nothing; enable one, or disable the add-on.
{{- end }}
{{- end -}}

{{/*
Fails with every message when the chart is installed by itself; in the umbrella, its
validateValues reports them with the "istio." prefix.
Usage:
{{ include "insight-istio.validateValues" . }}
*/}}
{{- define "insight-istio.validateValues" -}}
{{- if not (include "insight-common.validations.isSubchart" (dict "context" .)) -}}
{{- include "insight-common.validations.fail" (dict "messages" (include "insight-istio.validateValues.messages" (dict "values" .Values "prefix" "" "context" .)) "context" .) -}}
{{- end -}}
{{- end -}}

{{/*
The "from" sources of a rule: principals and namespaces, each its own source (a request
matches a rule when it matches any source).
Usage:
{{ include "insight-istio.sources" (dict "principals" $p "namespaces" $n) }}
*/}}
{{- define "insight-istio.sources" -}}
{{- with .principals }}
- source:
    principals: {{- toYaml . | nindent 6 }}
{{- end }}
{{- with .namespaces }}
- source:
    namespaces: {{- toYaml . | nindent 6 }}
{{- end }}
{{- end -}}

{{/*
The rule that lets scrapers reach a component's metrics port: from anywhere with
metrics.permissive (plain text has no principal to match), else from metrics.principals.
Usage:
{{ include "insight-istio.metricsRule" (dict "port" "9121" "context" $) }}
*/}}
{{- define "insight-istio.metricsRule" -}}
{{- $m := .context.Values.metrics -}}
{{- if $m.permissive }}
- to:
    - operation:
        ports: [{{ .port | quote }}]
{{- else if $m.principals }}
- from:
    - source:
        principals: {{- toYaml $m.principals | nindent 10 }}
  to:
    - operation:
        ports: [{{ .port | quote }}]
{{- end }}
{{- end -}}
