{{/*
Storage. Persistent volumes come from volumeClaimTemplates, which StatefulSets never
delete: uninstalling a release keeps the data until the PVCs are deleted by hand.
*/}}

{{/*
storageClassName for a PVC: persistence.storageClass, else global.storageClass; "-"
means no class (static provisioning); empty leaves the key out, so the cluster's default
StorageClass applies.
Usage:
{{ include "insight-common.storage.class" (dict "persistence" .Values.persistence "context" $) }}
*/}}
{{- define "insight-common.storage.class" -}}
{{- $global := .context.Values.global | default dict -}}
{{- $class := default $global.storageClass (.persistence | default dict).storageClass -}}
{{- if eq $class "-" -}}
storageClassName: ""
{{- else if $class -}}
storageClassName: {{ $class | quote }}
{{- end -}}
{{- end -}}

{{/*
A volumeClaimTemplate named "data". Its labels are the selector labels only: the template
is immutable, so it must not carry the chart or app version.
Usage:
{{ include "insight-common.storage.claimTemplate" (dict "persistence" .Values.persistence "matchLabels" $labels "context" $) }}
*/}}
{{- define "insight-common.storage.claimTemplate" -}}
- apiVersion: v1
  kind: PersistentVolumeClaim
  metadata:
    name: data
    labels: {{- toYaml .matchLabels | nindent 6 }}
    {{- with .persistence.annotations }}
    annotations: {{- toYaml . | nindent 6 }}
    {{- end }}
  spec:
    accessModes: {{- toYaml .persistence.accessModes | nindent 6 }}
    {{- with include "insight-common.storage.class" . }}
    {{ . }}
    {{- end }}
    resources:
      requests:
        storage: {{ .persistence.size | quote }}
{{- end -}}
