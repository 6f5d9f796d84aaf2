{{/*
Probes. The grid serves /livez and /readyz on each role's HTTP port.
*/}}

{{/*
An HTTP GET probe on a named container port, with the timing keys of the probe's values
("enabled" dropped), or nothing when disabled; scheme "HTTPS" when the port serves TLS
(the kubelet does not verify the certificate).
Usage:
{{- with include "insight-common.probes.http" (dict "probe" .Values.readinessProbe "path" "/readyz" "port" "http" "context" $) }}
readinessProbe: {{- . | nindent 12 }}
{{- end }}
*/}}
{{- define "insight-common.probes.http" -}}
{{- $probe := .probe | default dict -}}
{{- if $probe.enabled -}}
httpGet:
  path: {{ .path }}
  port: {{ .port }}
  {{- with .scheme }}
  scheme: {{ . }}
  {{- end }}
{{ omit $probe "enabled" | toYaml }}
{{- end -}}
{{- end -}}
