{{/*
Security contexts. The defaults in every chart meet the "restricted" Pod Security
Standard; "enabled: false" leaves the context out for platforms that set their own
(OpenShift's restricted SCC assigns the UID).
*/}}

{{/*
A securityContext map without its "enabled" switch, or nothing when disabled.
Usage:
{{- with include "insight-common.security.context" (dict "securityContext" .Values.podSecurityContext "context" $) }}
securityContext: {{- . | nindent 8 }}
{{- end }}
*/}}
{{- define "insight-common.security.context" -}}
{{- $sc := .securityContext | default dict -}}
{{- if $sc.enabled -}}
{{- omit $sc "enabled" | toYaml -}}
{{- end -}}
{{- end -}}
