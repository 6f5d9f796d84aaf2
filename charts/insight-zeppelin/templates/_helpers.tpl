{{/*
Helpers of the Zeppelin chart, over insight-common.
*/}}

{{/*
"<base>-zeppelin": the Deployment, Service, ServiceAccount, Role and ConfigMap.
Usage:
{{ include "insight-zeppelin.fullname" . }}
*/}}
{{- define "insight-zeppelin.fullname" -}}
{{- include "insight-common.names.component" (dict "component" "zeppelin" "context" .) -}}
{{- end -}}

{{/*
Labels of every Zeppelin object.
Usage:
{{ include "insight-zeppelin.labels" . }}
*/}}
{{- define "insight-zeppelin.labels" -}}
{{- include "insight-common.labels.standard" (dict "name" "insight-zeppelin" "component" "zeppelin" "context" .) -}}
{{- end -}}

{{/*
Labels selecting the server's pod.
Usage:
{{ include "insight-zeppelin.matchLabels" . }}
*/}}
{{- define "insight-zeppelin.matchLabels" -}}
{{- include "insight-common.labels.matchLabels" (dict "name" "insight-zeppelin" "component" "zeppelin" "context" .) -}}
{{- end -}}

{{/*
Labels the interpreter pods carry (the spec template sets them), which the NetworkPolicies
select: the SQL endpoints' policy admits these pods whatever its clients selector.
Usage:
{{ include "insight-zeppelin.interpreterMatchLabels" . }}
*/}}
{{- define "insight-zeppelin.interpreterMatchLabels" -}}
{{- include "insight-common.labels.matchLabels" (dict "name" "insight-zeppelin" "component" "zeppelin-interpreter" "context" .) -}}
{{- end -}}

{{/*
An image reference "<registry>/<repository>:<tag>@<digest>" of an image that is not the
grid's: global.image.registry and global.image.tag (else appVersion) fill an empty
registry and tag, global.image.digest never applies.
Usage:
{{ include "insight-zeppelin.image" (dict "image" .Values.jdbcDriver.image "context" $) }}
*/}}
{{- define "insight-zeppelin.image" -}}
{{- $global := (.context.Values.global | default dict).image | default dict -}}
{{- $registry := default $global.registry .image.registry -}}
{{- $tag := default (default .context.Chart.AppVersion $global.tag) .image.tag | toString -}}
{{- $ref := .image.repository -}}
{{- if $registry -}}
{{- $ref = printf "%s/%s" $registry $ref -}}
{{- end -}}
{{- $ref = printf "%s:%s" $ref $tag -}}
{{- with .image.digest -}}
{{- $ref = printf "%s@%s" $ref . -}}
{{- end -}}
{{- $ref -}}
{{- end -}}

{{/*
The server's image: image.*, Apache's release.
Usage:
{{ include "insight-zeppelin.serverImage" . }}
*/}}
{{- define "insight-zeppelin.serverImage" -}}
{{- include "insight-zeppelin.image" (dict "image" .Values.image "context" .) -}}
{{- end -}}

{{/*
The interpreter pods' image: interpreter.image when its repository is set, else the
server's (Apache's image carries every interpreter).
Usage:
{{ include "insight-zeppelin.interpreterImage" . }}
*/}}
{{- define "insight-zeppelin.interpreterImage" -}}
{{- if .Values.interpreter.image.repository -}}
{{- include "insight-zeppelin.image" (dict "image" .Values.interpreter.image "context" .) -}}
{{- else -}}
{{- include "insight-zeppelin.serverImage" . -}}
{{- end -}}
{{- end -}}

{{/*
Where the driver jar sits in the Zeppelin pods: the emptyDir the initContainer fills.
Usage:
{{ include "insight-zeppelin.driverJar" . }}
*/}}
{{- define "insight-zeppelin.driverJar" -}}
{{- printf "/opt/insight/jdbc/%s" (base .Values.jdbcDriver.path) -}}
{{- end -}}

{{/*
The JDBC URL: jdbc.url, else the release's insight-sql Service.
Usage:
{{ include "insight-zeppelin.jdbcURL" . }}
*/}}
{{- define "insight-zeppelin.jdbcURL" -}}
{{- if .Values.jdbc.url -}}
{{- .Values.jdbc.url -}}
{{- else -}}
{{- $sql := include "insight-common.names.component" (dict "component" "sql" "context" .) -}}
{{- printf "jdbc:mariadb://%s:3306/%s" (include "insight-common.names.serviceDomain" (dict "service" $sql "context" .)) .Values.jdbc.database -}}
{{- end -}}
{{- end -}}

{{/*
The ServiceAccount the server runs as.
Usage:
{{ include "insight-zeppelin.serviceAccount" . }}
*/}}
{{- define "insight-zeppelin.serviceAccount" -}}
{{- include "insight-common.names.serviceAccount" (dict "component" "zeppelin" "context" .) -}}
{{- end -}}

{{/*
Messages for values that break a cross-field rule; prefix is how the user reaches the keys
("" standalone, "zeppelin." in the umbrella).
Usage:
{{ include "insight-zeppelin.validateValues.messages" (dict "values" .Values "prefix" "" "context" $) }}
*/}}
{{- define "insight-zeppelin.validateValues.messages" -}}
{{- $v := .values -}}
{{- include "insight-common.resources.validateRequests" (dict "resources" $v.resources "key" (printf "%sresources" .prefix)) }}
{{- if and (eq $v.runMode "k8s") (not $v.rbac.create) (not $v.serviceAccount.name) }}
{{ .prefix }}runMode=k8s with {{ .prefix }}rbac.create=false and no {{ .prefix }}serviceAccount.name: the server cannot launch interpreter pods; set {{ .prefix }}rbac.create=true, or name a ServiceAccount bound to a Role that can.
{{- end }}
{{- end -}}

{{/*
Fails with every message at once. As a subchart of insight, the umbrella validates instead.
Usage:
{{ include "insight-zeppelin.validateValues" . }}
*/}}
{{- define "insight-zeppelin.validateValues" -}}
{{- if not (include "insight-common.validations.isSubchart" (dict "context" .)) -}}
{{- $messages := list (include "insight-zeppelin.validateValues.messages" (dict "values" .Values "prefix" "" "context" .)) (include "insight-common.auth.validate" (dict "context" .)) -}}
{{- include "insight-common.validations.fail" (dict "messages" (join "\n" $messages) "context" .) -}}
{{- end -}}
{{- end -}}

{{/*
Warnings printed by NOTES.txt: allowed but probably not what was meant.
Usage:
{{ include "insight-zeppelin.warnings" (dict "values" .Values "prefix" "" "context" $) }}
*/}}
{{- define "insight-zeppelin.warnings" -}}
{{- $v := .values -}}
{{- if not $v.notebook.persistence.enabled }}
NOTE: {{ .prefix }}notebook.persistence.enabled=false: the notes are in an emptyDir and go with Zeppelin's pod; set it to true to keep them on a claim.
{{- end }}
{{- end -}}
