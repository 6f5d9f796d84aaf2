{{/*
Validation. Each chart gathers the messages of all its cross-field rules (the schema
already checked each key alone) and fails once, so users fix everything in one round.
*/}}

{{/*
Fails with every non-empty line of messages, or does nothing when there are none.
Usage:
{{ include "insight-common.validations.fail" (dict "messages" $messages "context" $) }}
*/}}
{{- define "insight-common.validations.fail" -}}
{{- $lines := list -}}
{{- range (splitList "\n" .messages) -}}
{{- if trim . -}}
{{- $lines = append $lines (trim .) -}}
{{- end -}}
{{- end -}}
{{- if $lines -}}
{{- fail (printf "\n\nVALUES VALIDATION:\n%s" (join "\n" $lines)) -}}
{{- end -}}
{{- end -}}

{{/*
True ("true") when the chart is rendered as a subchart. The umbrella validates its
subcharts' values itself, so that one failure lists every message with the key as the
user wrote it (pu.resources..., not resources...).
Usage:
{{ if include "insight-common.validations.isSubchart" (dict "context" $) }}...{{ end }}
*/}}
{{- define "insight-common.validations.isSubchart" -}}
{{- if contains "/charts/" .context.Template.BasePath -}}true{{- end -}}
{{- end -}}
