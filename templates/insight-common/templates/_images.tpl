{{/*
Images. A component's image.* keys override global.image.*; an empty tag means the chart's
appVersion, and a digest, when set, pins the image whatever the tag says.
*/}}

{{/*
The image reference "<registry>/<repository>:<tag>@<digest>".
Usage:
{{ include "insight-common.images.image" (dict "image" .Values.image "context" $) }}
*/}}
{{- define "insight-common.images.image" -}}
{{- $global := (.context.Values.global | default dict).image | default dict -}}
{{- $image := .image | default dict -}}
{{- $registry := default $global.registry $image.registry -}}
{{- $repository := default $global.repository $image.repository -}}
{{- $tag := default (default .context.Chart.AppVersion $global.tag) $image.tag | toString -}}
{{- $digest := default $global.digest $image.digest -}}
{{- $ref := $repository -}}
{{- if $registry -}}
{{- $ref = printf "%s/%s" $registry $repository -}}
{{- end -}}
{{- if $tag -}}
{{- $ref = printf "%s:%s" $ref $tag -}}
{{- end -}}
{{- if $digest -}}
{{- $ref = printf "%s@%s" $ref $digest -}}
{{- end -}}
{{- $ref -}}
{{- end -}}

{{/*
The image pull policy, IfNotPresent unless set.
Usage:
{{ include "insight-common.images.pullPolicy" (dict "image" .Values.image "context" $) }}
*/}}
{{- define "insight-common.images.pullPolicy" -}}
{{- $global := (.context.Values.global | default dict).image | default dict -}}
{{- $image := .image | default dict -}}
{{- default (default "IfNotPresent" $global.pullPolicy) $image.pullPolicy -}}
{{- end -}}

{{/*
imagePullSecrets from global.image.pullSecrets and image.pullSecrets, without duplicates;
each entry is a Secret name or a {name: ...} map.
Usage:
{{- with include "insight-common.images.pullSecrets" (dict "image" .Values.image "context" $) }}
{{- . | nindent 6 }}
{{- end }}
*/}}
{{- define "insight-common.images.pullSecrets" -}}
{{- $global := (.context.Values.global | default dict).image | default dict -}}
{{- $image := .image | default dict -}}
{{- $names := list -}}
{{- range (concat ($global.pullSecrets | default list) ($image.pullSecrets | default list)) -}}
{{- $name := . -}}
{{- if kindIs "map" . -}}
{{- $name = .name -}}
{{- end -}}
{{- $names = append $names $name -}}
{{- end -}}
{{- if $names -}}
imagePullSecrets:
{{- range ($names | uniq) }}
  - name: {{ . }}
{{- end }}
{{- end -}}
{{- end -}}
