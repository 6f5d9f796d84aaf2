{{/*
Thin wrappers over insight-common for the Spark chart. Spark's own pods (drivers created by
insightctl submit, executors created by the drivers) are not rendered here: the chart ships
their pod templates in the ConfigMap "<base>-spark", and Spark and insightctl build the pods
from them.
*/}}

{{/*
"<base>-spark": the ConfigMap, Role, RoleBinding, NetworkPolicy and ServiceAccount.
Usage:
{{ include "insight-spark.fullname" . }}
*/}}
{{- define "insight-spark.fullname" -}}
{{- include "insight-common.names.component" (dict "component" "spark" "context" .) -}}
{{- end -}}

{{/*
Where the driver mounts the ConfigMap, and SPARK_CONF_DIR: spark-submit reads
spark-defaults.conf there, and the driver reads the executor pod template from it.
Usage:
{{ include "insight-spark.confDir" . }}
*/}}
{{- define "insight-spark.confDir" -}}
/opt/insight/spark-conf
{{- end -}}

{{/*
Labels of every Spark object, the pods included.
Usage:
{{ include "insight-spark.labels" . }}
*/}}
{{- define "insight-spark.labels" -}}
{{- include "insight-common.labels.standard" (dict "name" "insight-spark" "component" "spark" "context" .) -}}
{{- end -}}

{{/*
Labels selecting the Spark pods, drivers and executors alike (spark-role tells them apart).
Usage:
{{ include "insight-spark.matchLabels" . }}
*/}}
{{- define "insight-spark.matchLabels" -}}
{{- include "insight-common.labels.matchLabels" (dict "name" "insight-spark" "component" "spark" "context" .) -}}
{{- end -}}

{{/*
spark.redis.host: grid.host, else the client Service of the release's PUs. The connector
reads CLUSTER SLOTS from it and then dials each data pod at the address the map gives.
Usage:
{{ include "insight-spark.gridHost" . }}
*/}}
{{- define "insight-spark.gridHost" -}}
{{- if .Values.grid.host -}}
{{- .Values.grid.host -}}
{{- else -}}
{{- include "insight-common.names.serviceDomain" (dict "service" (include "insight-common.names.component" (dict "component" "pu" "context" .)) "context" .) -}}
{{- end -}}
{{- end -}}

{{/*
spark.insight.sql.url: sqlEndpoint.url, else MariaDB Connector/J's URL of the release's SQL
endpoints.
Usage:
{{ include "insight-spark.sqlURL" . }}
*/}}
{{- define "insight-spark.sqlURL" -}}
{{- if .Values.sqlEndpoint.url -}}
{{- .Values.sqlEndpoint.url -}}
{{- else -}}
{{- printf "jdbc:mariadb://%s:3306/%s" (include "insight-common.names.serviceDomain" (dict "service" (include "insight-common.names.component" (dict "component" "sql" "context" .)) "context" .)) .Values.sqlEndpoint.database -}}
{{- end -}}
{{- end -}}

{{/*
A Spark memory size ("512m", "2g") in MiB, the unit the schema allows it in.
Usage:
{{ include "insight-spark.mebibytes" "2g" }}
*/}}
{{- define "insight-spark.mebibytes" -}}
{{- $n := regexFind "^[0-9]+" . | int -}}
{{- if hasSuffix "g" (lower .) -}}
{{- mul $n 1024 -}}
{{- else -}}
{{- $n -}}
{{- end -}}
{{- end -}}

{{/*
The memory of a Spark pod as Spark sizes it: the JVM's plus the overhead, max(384 MiB,
10%) (spark.{driver,executor}.memoryOverhead's default), as a Kubernetes quantity.
Usage:
{{ include "insight-spark.podMemory" "1g" }}
*/}}
{{- define "insight-spark.podMemory" -}}
{{- $mb := include "insight-spark.mebibytes" . | int -}}
{{- printf "%dMi" (add $mb (max 384 (div $mb 10))) -}}
{{- end -}}

{{/*
The pod-level part of both pod templates: security, placement, pull secrets, volumes.
Usage:
{{ include "insight-spark.podSpec" . }}
*/}}
{{- define "insight-spark.podSpec" -}}
enableServiceLinks: false
{{- with include "insight-common.images.pullSecrets" (dict "image" .Values.image "context" .) }}
{{ . }}
{{- end }}
{{- with include "insight-common.security.context" (dict "securityContext" .Values.podSecurityContext "context" .) }}
securityContext: {{- . | nindent 2 }}
{{- end }}
{{- with .Values.priorityClassName }}
priorityClassName: {{ . | quote }}
{{- end }}
{{- with .Values.nodeSelector }}
nodeSelector: {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.tolerations }}
tolerations: {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/*
The environment both containers get: SPARK_LOCAL_IP is the pod's IP, so that Spark binds
its ports and its web UI there (pods that share a host's network each keep their own
address), and the extra variables.
Usage:
{{ include "insight-spark.env" . }}
*/}}
{{- define "insight-spark.env" -}}
- name: SPARK_LOCAL_IP
  valueFrom:
    fieldRef:
      fieldPath: status.podIP
{{- with .Values.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/*
Messages for the Spark values that break a cross-field rule; prefix is how the user reaches
the keys ("" standalone, "spark." in the umbrella).
Usage:
{{ include "insight-spark.validateValues.messages" (dict "values" .Values "prefix" "" "context" $) }}
*/}}
{{- define "insight-spark.validateValues.messages" -}}
{{- $v := .values -}}
{{- if and (lt (int $v.executor.instances) 1) (not $v.dynamicAllocation.enabled) }}
{{ .prefix }}executor.instances={{ $v.executor.instances }}: a job needs at least one executor; set it to 1 or more, or {{ .prefix }}dynamicAllocation.enabled=true to start with none.
{{- end }}
{{- if and $v.dynamicAllocation.enabled (gt (int $v.dynamicAllocation.minExecutors) (int $v.dynamicAllocation.maxExecutors)) }}
{{ .prefix }}dynamicAllocation.minExecutors={{ $v.dynamicAllocation.minExecutors }} is above {{ .prefix }}dynamicAllocation.maxExecutors={{ $v.dynamicAllocation.maxExecutors }}: set the minimum at most the maximum.
{{- end }}
{{- end -}}

{{/*
Fails with every message at once. As a subchart of insight, the umbrella validates instead.
Usage:
{{ include "insight-spark.validateValues" . }}
*/}}
{{- define "insight-spark.validateValues" -}}
{{- if not (include "insight-common.validations.isSubchart" (dict "context" .)) -}}
{{- $messages := list (include "insight-spark.validateValues.messages" (dict "values" .Values "prefix" "" "context" .)) (include "insight-common.auth.validate" (dict "context" .)) -}}
{{- include "insight-common.validations.fail" (dict "messages" (join "\n" $messages) "context" .) -}}
{{- end -}}
{{- end -}}
