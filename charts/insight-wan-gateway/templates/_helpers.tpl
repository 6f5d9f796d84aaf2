{{/*
Thin wrappers over insight-common for the WAN gateway chart.
*/}}

{{/*
"<base>-wan-gateway": the Deployment, Service, NetworkPolicy and ServiceAccount.
Usage:
{{ include "insight-wan-gateway.fullname" . }}
*/}}
{{- define "insight-wan-gateway.fullname" -}}
{{- include "insight-common.names.component" (dict "component" "wan-gateway" "context" .) -}}
{{- end -}}

{{/*
"<base>-wan": the ConfigMap the data pods and the managers read their WAN flags from.
Usage:
{{ include "insight-wan-gateway.configMap" . }}
*/}}
{{- define "insight-wan-gateway.configMap" -}}
{{- include "insight-common.names.component" (dict "component" "wan" "context" .) -}}
{{- end -}}

{{/*
The site's manager API: managerURL, else the Service "<base>-manager" on 8090, https with
TLS.
Usage:
{{ include "insight-wan-gateway.manager" . }}
*/}}
{{- define "insight-wan-gateway.manager" -}}
{{- if .Values.managerURL -}}
{{- .Values.managerURL -}}
{{- else -}}
{{- $scheme := ternary "https" "http" (eq (include "insight-common.tls.enabled" (dict "context" .)) "true") -}}
{{- printf "%s://%s:8090" $scheme (include "insight-common.names.serviceDomain" (dict "service" (include "insight-common.names.component" (dict "component" "manager" "context" .)) "context" .)) -}}
{{- end -}}
{{- end -}}

{{/*
Labels of every gateway object.
Usage:
{{ include "insight-wan-gateway.labels" . }}
*/}}
{{- define "insight-wan-gateway.labels" -}}
{{- include "insight-common.labels.standard" (dict "name" "insight-wan-gateway" "component" "wan-gateway" "context" .) -}}
{{- end -}}

{{/*
Labels selecting the gateway pod.
Usage:
{{ include "insight-wan-gateway.matchLabels" . }}
*/}}
{{- define "insight-wan-gateway.matchLabels" -}}
{{- include "insight-common.labels.matchLabels" (dict "name" "insight-wan-gateway" "component" "wan-gateway" "context" .) -}}
{{- end -}}

{{/*
Whether the gateway runs without TLS and without the operator token (global.tls and
global.operatorToken both off): then it sends in plain, and targets carry no CA and no
token.
Usage:
{{ include "insight-wan-gateway.insecure" (dict "context" $) }}
*/}}
{{- define "insight-wan-gateway.insecure" -}}
{{- if and (not (include "insight-common.tls.enabled" .)) (not (include "insight-common.operatorToken.enabled" .)) -}}true{{- end -}}
{{- end -}}

{{/*
Messages for the gateway's values that break a rule; prefix is how the user reaches the
keys ("" standalone, "wanGateway." in the umbrella). The schema checks each key's shape;
these check what spans keys: the site is set, no target is the site itself or named
twice, and each target has its CA and token Secrets unless the release runs without TLS
and token.
Usage:
{{ include "insight-wan-gateway.validateValues.messages" (dict "values" .Values "prefix" "" "context" $) }}
*/}}
{{- define "insight-wan-gateway.validateValues.messages" -}}
{{- $v := .values -}}
{{- $p := .prefix -}}
{{- $insecure := include "insight-wan-gateway.insecure" (dict "context" .context) -}}
{{- include "insight-common.resources.validateRequests" (dict "resources" $v.resources "key" (printf "%sresources" $p)) }}
{{- if not $v.site }}
{{ $p }}site is empty: name this site (1-32 of a-z, 0-9, '-'), e.g. --set {{ $p }}site=london; the data pods and the managers take it as their --wan-site.
{{- else if not (regexMatch "^[a-z0-9-]{1,32}$" (toString $v.site)) }}
{{ $p }}site={{ $v.site | quote }}: a site name is 1 to 32 characters of a-z, 0-9 and '-'.
{{- end }}
{{- $seen := dict -}}
{{- range $i, $t := $v.targets }}
{{- if not (regexMatch "^[a-z0-9-]{1,32}$" (toString $t.name)) }}
{{ $p }}targets[{{ $i }}].name={{ $t.name | quote }}: a site name is 1 to 32 characters of a-z, 0-9 and '-'.
{{- end }}
{{- if and $t.name (eq (toString $t.name) (toString $v.site)) }}
{{ $p }}targets[{{ $i }}].name={{ $t.name }}: that is this site ({{ $p }}site); list the other sites.
{{- end }}
{{- if hasKey $seen (toString $t.name) }}
{{ $p }}targets[{{ $i }}].name={{ $t.name }} is listed twice.
{{- end }}
{{- $_ := set $seen (toString $t.name) true }}
{{- if not (regexMatch "^[^:/ ]+:[0-9]{1,5}$" (toString $t.address)) }}
{{ $p }}targets[{{ $i }}].address={{ $t.address | quote }}: want HOST:PORT of that site's gateway, e.g. <base>-wan-gateway.<namespace>.svc:7443 or a load balancer's address.
{{- end }}
{{- $ca := (($t.tls | default dict).caSecret) -}}
{{- $tok := (($t.auth | default dict).tokenSecret) -}}
{{- if and (not $insecure) (or (not $ca) (not $tok)) }}
{{ $p }}targets[{{ $i }}] ({{ $t.name }}): set tls.caSecret and auth.tokenSecret, Secrets in this namespace holding that site's CA (ca.crt) and operator token (token), copied from its release's "<base>-tls" and "<base>-operator-token".
{{- end }}
{{- if and $insecure (or $ca $tok) }}
{{ $p }}targets[{{ $i }}] ({{ $t.name }}): global.tls and global.operatorToken are off, so the gateway sends in plain without a token; drop tls.caSecret and auth.tokenSecret, or turn TLS and the token on.
{{- end }}
{{- end }}
{{- end -}}

{{/*
Fails with every message at once. As a subchart of insight, the umbrella validates instead.
Usage:
{{ include "insight-wan-gateway.validateValues" . }}
*/}}
{{- define "insight-wan-gateway.validateValues" -}}
{{- if not (include "insight-common.validations.isSubchart" (dict "context" .)) -}}
{{- include "insight-common.validations.fail" (dict "messages" (include "insight-wan-gateway.validateValues.messages" (dict "values" .Values "prefix" "" "context" .)) "context" .) -}}
{{- end -}}
{{- end -}}

{{/*
The targets' ports, for the egress rule.
Usage:
{{ include "insight-wan-gateway.targetPorts" . | fromJsonArray }}
*/}}
{{- define "insight-wan-gateway.targetPorts" -}}
{{- $ports := list -}}
{{- range .Values.targets -}}
{{- $port := int (last (splitList ":" (toString .address))) -}}
{{- if not (has $port $ports) -}}{{- $ports = append $ports $port -}}{{- end -}}
{{- end -}}
{{- toJson $ports -}}
{{- end -}}
