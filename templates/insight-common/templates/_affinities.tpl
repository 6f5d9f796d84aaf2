{{/*
Affinity. Pods that must not share a failure domain (the instances of one partition, the
managers of one etcd cluster) get a pod anti-affinity on a topology key: "hard" makes the
scheduler refuse to co-locate them, "soft" only prefers to spread them.
*/}}

{{/*
A podAntiAffinity against pods with the given labels on a topology key.
Usage:
{{ include "insight-common.affinities.podAntiAffinity" (dict "type" "hard" "topologyKey" "kubernetes.io/hostname" "matchLabels" $labels "context" $) }}
*/}}
{{- define "insight-common.affinities.podAntiAffinity" -}}
podAntiAffinity:
{{- if eq .type "hard" }}
  requiredDuringSchedulingIgnoredDuringExecution:
    - labelSelector:
        matchLabels: {{- toYaml .matchLabels | nindent 10 }}
      topologyKey: {{ .topologyKey }}
{{- else }}
  preferredDuringSchedulingIgnoredDuringExecution:
    - weight: 100
      podAffinityTerm:
        labelSelector:
          matchLabels: {{- toYaml .matchLabels | nindent 12 }}
        topologyKey: {{ .topologyKey }}
{{- end }}
{{- end -}}
