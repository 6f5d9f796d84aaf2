{{/*
The umbrella validates for the whole suite: Helm renders subcharts first and stops at the
first fail, so the subcharts leave their rules to this one validateValues, which can name
every key as the user wrote it (pu.resources..., manager.ha).
*/}}

{{/*
Components whose subcharts come in later releases: value key -> chart.
*/}}
{{- define "insight.futureComponents" -}}
spark: insight-spark
zeppelin: insight-zeppelin
wanGateway: insight-wan-gateway
istio: insight-istio
{{- end -}}

{{/*
Every cross-field message of the suite.
Usage:
{{ include "insight.validateValues.messages" . }}
*/}}
{{- define "insight.validateValues.messages" -}}
{{- $values := .Values -}}
{{- $future := include "insight.futureComponents" . | fromYaml -}}
{{- range $key := keys $future | sortAlpha -}}
{{- if (get $values $key | default dict).enabled }}
{{ $key }}.enabled=true: the {{ get $future $key }} chart is not part of this release yet; set {{ $key }}.enabled=false.
{{- end -}}
{{- end -}}
{{- if .Values.manager.enabled }}
{{ include "insight-manager.validateValues.messages" (dict "values" .Values.manager "prefix" "manager." "context" $) }}
{{- end }}
{{- if .Values.prometheus.enabled }}
{{ include "insight-prometheus.validateValues.messages" (dict "values" .Values.prometheus "prefix" "prometheus." "context" $) }}
{{- end }}
{{- if .Values.pu.enabled }}
{{ include "insight-pu.validateValues.messages" (dict "values" .Values.pu "prefix" "pu." "context" $) }}
{{ include "insight-common.auth.validate" (dict "context" $) }}
{{- if and (not .Values.manager.enabled) (not .Values.pu.etcdEndpoints) }}
pu.enabled=true with manager.enabled=false: the PUs need a control plane; set manager.enabled=true, or pu.etcdEndpoints to managers running elsewhere.
{{- end }}
{{- end }}
{{- end -}}

{{/*
Fails once with every message.
Usage:
{{ include "insight.validateValues" . }}
*/}}
{{- define "insight.validateValues" -}}
{{- include "insight-common.validations.fail" (dict "messages" (include "insight.validateValues.messages" .) "context" .) -}}
{{- end -}}
