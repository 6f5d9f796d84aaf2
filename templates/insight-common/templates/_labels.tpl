{{/*
Kubernetes recommended labels. Selectors (and anything immutable, such as
volumeClaimTemplates) use only matchLabels: name, instance and component never change on
upgrade, while version and helm.sh/chart do.
*/}}

{{/*
Labels for every object of a component. helm.sh/chart uses name, not .Chart.Name, which
an umbrella's alias replaces ("pu").
Usage:
{{ include "insight-common.labels.standard" (dict "name" "insight-pu" "component" "pu" "context" $) }}
*/}}
{{- define "insight-common.labels.standard" -}}
{{ include "insight-common.labels.matchLabels" . }}
app.kubernetes.io/version: {{ .context.Chart.AppVersion | quote }}
app.kubernetes.io/part-of: insight
app.kubernetes.io/managed-by: {{ .context.Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .name .context.Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end -}}

{{/*
Labels that select a component's pods.
Usage:
{{ include "insight-common.labels.matchLabels" (dict "name" "insight-pu" "component" "pu" "context" $) }}
*/}}
{{- define "insight-common.labels.matchLabels" -}}
app.kubernetes.io/name: {{ .name }}
app.kubernetes.io/instance: {{ .context.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}
