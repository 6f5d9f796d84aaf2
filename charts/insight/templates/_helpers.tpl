{{/*
The umbrella validates for the whole suite: Helm renders subcharts first and stops at the
first fail, so the subcharts leave their rules to this one validateValues, which can name
every key as the user wrote it (pu.resources..., manager.ha).
*/}}

{{/*
Every cross-field message of the suite.
Usage:
{{ include "insight.validateValues.messages" . }}
*/}}
{{- define "insight.validateValues.messages" -}}
{{- if .Values.manager.enabled }}
{{ include "insight-manager.validateValues.messages" (dict "values" .Values.manager "prefix" "manager." "context" $) }}
{{- end }}
{{- if .Values.sql.enabled }}
{{ include "insight-sql.validateValues.messages" (dict "values" .Values.sql "prefix" "sql." "context" $) }}
{{- if and (not .Values.pu.enabled) (not .Values.sql.grid) }}
sql.enabled=true with pu.enabled=false: the SQL endpoints need a grid; set pu.enabled=true, or sql.grid to data instances running elsewhere.
{{- end }}
{{- end }}
{{- if .Values.spark.enabled }}
{{ include "insight-spark.validateValues.messages" (dict "values" .Values.spark "prefix" "spark." "context" $) }}
{{- if and (not .Values.pu.enabled) (not .Values.spark.grid.host) }}
spark.enabled=true with pu.enabled=false: Spark jobs need a grid; set pu.enabled=true, or spark.grid.host to data instances running elsewhere.
{{- end }}
{{- end }}
{{- if .Values.zeppelin.enabled }}
{{ include "insight-zeppelin.validateValues.messages" (dict "values" .Values.zeppelin "prefix" "zeppelin." "context" $) }}
{{- if and .Values.zeppelin.jdbc.enabled (not .Values.sql.enabled) (not .Values.zeppelin.jdbc.url) }}
zeppelin.enabled=true with sql.enabled=false: the JDBC interpreter is set for the release's SQL endpoints; set sql.enabled=true, zeppelin.jdbc.url to endpoints elsewhere, or zeppelin.jdbc.enabled=false.
{{- end }}
{{- end }}
{{- if .Values.wanGateway.enabled }}
{{ include "insight-wan-gateway.validateValues.messages" (dict "values" .Values.wanGateway "prefix" "wanGateway." "context" $) }}
{{- if not (and .Values.pu.enabled .Values.manager.enabled) }}
wanGateway.enabled=true with pu.enabled={{ .Values.pu.enabled }} and manager.enabled={{ .Values.manager.enabled }}: a site's gateway reads the release's partition map and sends its data pods' writes; keep pu.enabled=true and manager.enabled=true.
{{- end }}
{{- if .Values.istio.enabled }}
wanGateway.enabled=true with istio.enabled=true: the Istio add-on's policies do not let the gateway reach the data pods and managers, nor the other sites (outside the mesh) reach the gateway, yet; set one of them to false.
{{- end }}
{{- end }}
{{- if .Values.prometheus.enabled }}
{{ include "insight-prometheus.validateValues.messages" (dict "values" .Values.prometheus "prefix" "prometheus." "context" $) }}
{{- end }}
{{- if .Values.istio.enabled }}
{{ include "insight-istio.validateValues.messages" (dict "values" .Values.istio "prefix" "istio." "context" $) }}
{{ include "insight.istioServiceAccounts" . }}
{{- end }}
{{- if .Values.pu.enabled }}
{{ include "insight-pu.validateValues.messages" (dict "values" .Values.pu "prefix" "pu." "context" $) }}
{{- if and (not .Values.manager.enabled) (not .Values.pu.etcdEndpoints) }}
pu.enabled=true with manager.enabled=false: the PUs need a control plane; set manager.enabled=true, or pu.etcdEndpoints to managers running elsewhere.
{{- end }}
{{- if and (not (include "insight-pu.plainRESP" (dict "Values" (merge (dict "global" .Values.global) .Values.pu)))) (or .Values.sql.enabled .Values.spark.enabled) }}
pu.tls.plain=false turns plain RESP off, but the release's SQL endpoints or Spark (sql.enabled, spark.enabled) reach the PUs over plain RESP: keep pu.tls.plain=true, or disable them.
{{- end }}
{{- end }}
{{- if include "insight.readsGridPassword" . }}
{{ include "insight-common.auth.validate" (dict "context" $) }}
{{- end }}
{{- end -}}

{{/*
Non-empty when a component of the release serves or presents the grid's password
(global.auth): the data pods, the SQL endpoints, Spark's jobs or Zeppelin's interpreters.
Its messages then come once, whichever of them are on.
Usage:
{{ include "insight.readsGridPassword" . }}
*/}}
{{- define "insight.readsGridPassword" -}}
{{- if or .Values.pu.enabled .Values.sql.enabled .Values.spark.enabled .Values.zeppelin.enabled -}}
true
{{- end -}}
{{- end -}}

{{/*
Fails once with every message.
Usage:
{{ include "insight.validateValues" . }}
*/}}
{{- define "insight.validateValues" -}}
{{- include "insight-common.validations.fail" (dict "messages" (include "insight.validateValues.messages" .) "context" .) -}}
{{- end -}}


{{/*
The Istio add-on names the data pods' and managers' ServiceAccounts in its principals
without seeing their charts' values: a ServiceAccount renamed in one and not the other
would deny the grid its own traffic.
Usage:
{{ include "insight.istioServiceAccounts" . }}
*/}}
{{- define "insight.istioServiceAccounts" -}}
{{- range $component := list "pu" "manager" -}}
{{- $sub := get $.Values $component -}}
{{- if $sub.enabled -}}
{{- $runs := include "insight-common.names.serviceAccount" (dict "component" $component "context" (dict "Values" (dict "serviceAccount" $sub.serviceAccount "global" $.Values.global) "Release" $.Release)) -}}
{{- $named := get $.Values.istio.serviceAccounts $component | default (include "insight-common.names.component" (dict "component" $component "context" $)) -}}
{{- if ne $runs $named }}
istio.serviceAccounts.{{ $component }} names {{ $named | quote }}, but the {{ $component }} pods run as {{ $runs | quote }} ({{ $component }}.serviceAccount): set istio.serviceAccounts.{{ $component }}={{ $runs }}, or the add-on's policies deny the grid its own traffic.
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}
