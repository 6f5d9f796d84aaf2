{{/*
NetworkPolicy pieces shared by the components' policies (templates/networkpolicy.yaml of
insight-pu, insight-manager and insight-sql). Every component's policy selects its own
pods and lists both Ingress and Egress: what it does not allow is denied. Peers name the
release's pods by their matchLabels, which the umbrella and standalone charts installed
under one release name share. The kubelet's probes come from the node, which
NetworkPolicies always allow.
*/}}

{{/*
A peer selecting one component's pods of the release, in the policy's namespace.
Usage:
{{ include "insight-common.networkPolicy.component" (dict "name" "insight-pu" "component" "pu" "context" $) }}
*/}}
{{- define "insight-common.networkPolicy.component" -}}
- podSelector:
    matchLabels: {{- include "insight-common.labels.matchLabels" . | nindent 6 }}
{{- end -}}

{{/*
A peer selecting every pod of the release (any component), in the policy's namespace.
Usage:
{{ include "insight-common.networkPolicy.release" (dict "context" $) }}
*/}}
{{- define "insight-common.networkPolicy.release" -}}
- podSelector:
    matchLabels:
      app.kubernetes.io/instance: {{ .context.Release.Name }}
      app.kubernetes.io/part-of: insight
{{- end -}}

{{/*
TCP ports of a rule, from a list of numbers.
Usage:
{{ include "insight-common.networkPolicy.ports" (dict "ports" (list 6379)) }}
*/}}
{{- define "insight-common.networkPolicy.ports" -}}
{{- $ports := list -}}
{{- range .ports -}}
{{- $ports = append $ports (dict "protocol" "TCP" "port" .) -}}
{{- end -}}
{{- toYaml $ports -}}
{{- end -}}

{{/*
The egress rule to the cluster DNS: the kube-dns pods of kube-system, port 53 over UDP
and TCP (answers past 512 bytes). Clusters whose DNS lives elsewhere set
networkPolicy.egress.enabled=false or add a rule with networkPolicy.extraEgress.
Usage:
{{ include "insight-common.networkPolicy.dnsEgress" (dict "context" $) }}
*/}}
{{- define "insight-common.networkPolicy.dnsEgress" -}}
- to:
    - namespaceSelector:
        matchLabels:
          kubernetes.io/metadata.name: kube-system
      podSelector:
        matchLabels:
          k8s-app: kube-dns
  ports:
    - protocol: UDP
      port: 53
    - protocol: TCP
      port: 53
{{- end -}}

{{/*
An ingress rule from a user's peer list (NetworkPolicyPeer objects) to ports, or nothing
when the list is empty.
Usage:
{{ include "insight-common.networkPolicy.fromPeers" (dict "peers" .Values.networkPolicy.clients "ports" (list 6379)) }}
*/}}
{{- define "insight-common.networkPolicy.fromPeers" -}}
{{- if .peers -}}
- from: {{- toYaml .peers | nindent 4 }}
  ports: {{- include "insight-common.networkPolicy.ports" . | nindent 4 }}
{{- end -}}
{{- end -}}
