{{/*
Thin wrappers over insight-common for the Prometheus add-on.
*/}}

{{/*
Labels of every object of the add-on, with the user's labels (kube-prometheus-stack
selects monitors and rules by its release label).
Usage:
{{ include "insight-prometheus.labels" . }}
*/}}
{{- define "insight-prometheus.labels" -}}
{{ include "insight-common.labels.standard" (dict "name" "insight-prometheus" "component" "prometheus" "context" .) }}
{{- with .Values.labels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/*
The PromQL label matchers that keep a rule to this release's targets: the PodMonitors
copy the pods' app.kubernetes.io/instance label to insight_release, and the operator
adds namespace.
Usage:
{{ include "insight-prometheus.selector" . }}
*/}}
{{- define "insight-prometheus.selector" -}}
{{- printf "namespace=%q,insight_release=%q" (include "insight-common.names.namespace" (dict "context" .)) .Release.Name -}}
{{- end -}}

{{/*
The kinds the chart creates, as .Capabilities.APIVersions names them.
Usage:
{{ include "insight-prometheus.requiredKinds" (dict "values" .Values) }}
*/}}
{{- define "insight-prometheus.requiredKinds" -}}
{{- $kinds := list -}}
{{- if or .values.podMonitors.manager.enabled .values.podMonitors.pu.enabled -}}
{{- $kinds = append $kinds "monitoring.coreos.com/v1/PodMonitor" -}}
{{- end -}}
{{- if .values.rules.enabled -}}
{{- $kinds = append $kinds "monitoring.coreos.com/v1/PrometheusRule" -}}
{{- end -}}
{{- join " " $kinds -}}
{{- end -}}

{{/*
The seconds of a Prometheus duration such as "1m30s" (the schema has checked its form).
Usage:
{{ include "insight-prometheus.seconds" "1m30s" }}
*/}}
{{- define "insight-prometheus.seconds" -}}
{{- $units := dict "ms" 0.001 "s" 1 "m" 60 "h" 3600 "d" 86400 "w" 604800 "y" 31536000 -}}
{{- $total := 0.0 -}}
{{- range regexFindAll "[0-9]+(ms|s|m|h|d|w|y)" . -1 -}}
{{- $unit := regexFind "(ms|s|m|h|d|w|y)$" . -}}
{{- $total = addf $total (mulf (trimSuffix $unit . | float64) (get $units $unit)) -}}
{{- end -}}
{{- $total -}}
{{- end -}}

{{/*
Messages for values that cannot work; prefix is how the user reaches the keys (""
standalone, "prometheus." in the umbrella). Objects of a kind the cluster does not serve
are refused, not dropped: a monitoring add-on that silently renders nothing looks
installed and alerts on nothing.
Usage:
{{ include "insight-prometheus.validateValues.messages" (dict "values" .Values "prefix" "" "context" $) }}
*/}}
{{- define "insight-prometheus.validateValues.messages" -}}
{{- $v := .values -}}
{{- $missing := list -}}
{{- range splitList " " (include "insight-prometheus.requiredKinds" (dict "values" $v)) -}}
{{- if and . (not ($.context.Capabilities.APIVersions.Has .)) -}}
{{- $missing = append $missing . -}}
{{- end -}}
{{- end -}}
{{- if and $missing $v.requireCRDs }}
{{ if .prefix }}{{ .prefix }}enabled=true{{ else }}The insight-prometheus chart{{ end }} needs the Prometheus Operator CRDs, but the cluster does not serve {{ join ", " $missing }}: install the Prometheus Operator's CRDs (kube-prometheus-stack or prometheus-operator), or with helm template (or insightctl template) pass{{ range $missing }} --api-versions {{ . }}{{ end }} (set {{ .prefix }}requireCRDs=false only if the CRDs come later in the same deployment).
{{- end }}
{{- if gt (include "insight-prometheus.seconds" $v.podMonitors.scrapeTimeout | float64) (include "insight-prometheus.seconds" $v.podMonitors.interval | float64) }}
{{ .prefix }}podMonitors.scrapeTimeout={{ $v.podMonitors.scrapeTimeout }} is longer than {{ .prefix }}podMonitors.interval={{ $v.podMonitors.interval }}: Prometheus refuses such a scrape; lower the timeout or raise the interval.
{{- end }}
{{- if not (or $v.podMonitors.manager.enabled $v.podMonitors.pu.enabled $v.rules.enabled $v.dashboards.enabled) }}
{{ .prefix }}podMonitors.manager.enabled, {{ .prefix }}podMonitors.pu.enabled, {{ .prefix }}rules.enabled and {{ .prefix }}dashboards.enabled are all false: the add-on would create nothing; disable it instead.
{{- end }}
{{- if and $v.dashboards.enabled (not (and $v.rules.enabled $v.rules.records.enabled)) }}
{{ .prefix }}dashboards.enabled=true needs the recorded series of {{ .prefix }}rules.records.enabled=true (and {{ .prefix }}rules.enabled=true): without them the dashboards' panels stay empty; enable both, or set {{ .prefix }}dashboards.enabled=false.
{{- end }}
{{- end -}}

{{/*
Fails with every message at once. As a subchart of insight, the umbrella validates instead.
Usage:
{{ include "insight-prometheus.validateValues" . }}
*/}}
{{- define "insight-prometheus.validateValues" -}}
{{- if not (include "insight-common.validations.isSubchart" (dict "context" .)) -}}
{{- include "insight-common.validations.fail" (dict "messages" (include "insight-prometheus.validateValues.messages" (dict "values" .Values "prefix" "" "context" .)) "context" .) -}}
{{- end -}}
{{- end -}}

{{/*
A PodMonitor for one component's pods, on their "http" port. The relabelings give every
series the labels the rules group by: insight_release, component and, for the data pods,
partition.
Usage:
{{ include "insight-prometheus.podMonitor" (dict "name" "insight-pu" "component" "pu" "partitioned" true "context" $) }}
*/}}
{{- define "insight-prometheus.podMonitor" -}}
{{- $ctx := .context -}}
{{- $ns := include "insight-common.names.namespace" (dict "context" $ctx) -}}
apiVersion: monitoring.coreos.com/v1
kind: PodMonitor
metadata:
  name: {{ include "insight-common.names.component" (dict "component" .component "context" $ctx) }}
  namespace: {{ $ns }}
  labels: {{- include "insight-prometheus.labels" $ctx | nindent 4 }}
spec:
  namespaceSelector:
    matchNames:
      - {{ $ns }}
  selector:
    matchLabels: {{- include "insight-common.labels.matchLabels" (dict "name" .name "component" .component "context" $ctx) | nindent 6 }}
  podMetricsEndpoints:
    - port: http
      path: /metrics
      interval: {{ $ctx.Values.podMonitors.interval }}
      scrapeTimeout: {{ $ctx.Values.podMonitors.scrapeTimeout }}
      {{- /* TLS (global.tls): the HTTP port serves HTTPS; the scrape verifies the
      release's CA and a name its certificate carries (pods are scraped by IP). */}}
      {{- if include "insight-common.tls.enabled" (dict "context" $ctx) }}
      scheme: https
      tlsConfig:
        ca:
          secret:
            name: {{ include "insight-common.tls.secretName" (dict "context" $ctx) }}
            key: ca.crt
        serverName: {{ printf "%s.%s.svc" (include "insight-common.names.component" (dict "component" .component "context" $ctx)) $ns }}
      {{- end }}
      relabelings:
        - sourceLabels: [__meta_kubernetes_pod_label_app_kubernetes_io_instance]
          targetLabel: insight_release
        - sourceLabels: [__meta_kubernetes_pod_label_app_kubernetes_io_component]
          targetLabel: component
        {{- if .partitioned }}
        - sourceLabels: [__meta_kubernetes_pod_label_insight_dev_partition]
          targetLabel: partition
        {{- end }}
{{- end -}}

{{/*
One alerting rule: name is the alert, key its values under rules.alerts; "for" is set
when the values have one.
Usage:
{{ include "insight-prometheus.alert" (dict "name" "InsightX" "key" "x" "expr" $expr "summary" "..." "description" "..." "context" $) }}
*/}}
{{- define "insight-prometheus.alert" -}}
{{- $a := get .context.Values.rules.alerts .key -}}
{{- if $a.enabled }}
- alert: {{ .name }}
  expr: |-
    {{- .expr | nindent 4 }}
  {{- with $a.for }}
  for: {{ . }}
  {{- end }}
  labels:
    severity: {{ $a.severity }}
  annotations:
    summary: {{ .summary | quote }}
    description: {{ .description | quote }}
    runbook_url: {{ printf "%s/%s.md" (.context.Values.rules.runbookBaseURL | trimSuffix "/") .name | quote }}
{{- end }}
{{- end -}}
