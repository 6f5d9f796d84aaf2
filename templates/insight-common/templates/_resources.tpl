{{/*
Resource quantities. Templates cannot call Kubernetes' quantity parser, so this reads the
subset the schemas allow (a decimal number with an optional SI or binary suffix) to compare
requests with limits.
*/}}

{{/*
A quantity ("512Mi", "0.5", "250m", 1) as a plain decimal number, or "" if it is not one.
Usage:
{{ include "insight-common.resources.quantity" (dict "value" "512Mi") | float64 }}
*/}}
{{- define "insight-common.resources.quantity" -}}
{{- $v := .value -}}
{{- if or (kindIs "int" $v) (kindIs "int64" $v) (kindIs "float64" $v) -}}
{{- $v | float64 -}}
{{- else if and (kindIs "string" $v) (regexMatch "^[0-9]+(\\.[0-9]+)?([numkMGTPE]|[KMGTPE]i)?$" $v) -}}
{{- $number := regexFind "^[0-9]+(\\.[0-9]+)?" $v -}}
{{- $suffix := trimPrefix $number $v -}}
{{- $factors := dict "" 1.0 "n" 0.000000001 "u" 0.000001 "m" 0.001 "k" 1000.0 "M" 1000000.0 "G" 1000000000.0 "T" 1000000000000.0 "P" 1000000000000000.0 "E" 1000000000000000000.0 "Ki" 1024.0 "Mi" 1048576.0 "Gi" 1073741824.0 "Ti" 1099511627776.0 "Pi" 1125899906842624.0 "Ei" 1152921504606846976.0 -}}
{{- mulf ($number | float64) (get $factors $suffix) -}}
{{- end -}}
{{- end -}}

{{/*
A message when a resources map requests more than its limit for cpu or memory.
Usage:
{{ include "insight-common.resources.validateRequests" (dict "resources" .Values.resources "key" "pu.resources") }}
*/}}
{{- define "insight-common.resources.validateRequests" -}}
{{- $requests := (.resources | default dict).requests | default dict -}}
{{- $limits := (.resources | default dict).limits | default dict -}}
{{- $key := .key -}}
{{- range $name := list "cpu" "memory" -}}
{{- $request := get $requests $name -}}
{{- $limit := get $limits $name -}}
{{- if and $request $limit -}}
{{- $r := include "insight-common.resources.quantity" (dict "value" $request) -}}
{{- $l := include "insight-common.resources.quantity" (dict "value" $limit) -}}
{{- if and $r $l (gt ($r | float64) ($l | float64)) }}
{{ $key }}.requests.{{ $name }}={{ $request }} is above {{ $key }}.limits.{{ $name }}={{ $limit }}: set a request at most the limit.
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}
