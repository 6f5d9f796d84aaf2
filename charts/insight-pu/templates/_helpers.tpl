{{/*
Thin wrappers over insight-common for the PU chart.
*/}}

{{/*
"<base>-pu": the client Service, ConfigMap and ServiceAccount.
Usage:
{{ include "insight-pu.fullname" . }}
*/}}
{{- define "insight-pu.fullname" -}}
{{- include "insight-common.names.component" (dict "component" "pu" "context" .) -}}
{{- end -}}

{{/*
"<base>-pu-<partition>": the StatefulSet and PodDisruptionBudget of one partition.
Usage:
{{ include "insight-pu.partitionName" (dict "partition" 0 "context" $) }}
*/}}
{{- define "insight-pu.partitionName" -}}
{{- printf "%s-%d" (include "insight-pu.fullname" .context) (int .partition) -}}
{{- end -}}

{{/*
Labels of every PU object.
Usage:
{{ include "insight-pu.labels" . }}
*/}}
{{- define "insight-pu.labels" -}}
{{- include "insight-common.labels.standard" (dict "name" "insight-pu" "component" "pu" "context" .) -}}
{{- end -}}

{{/*
Labels selecting every PU pod of the release (the client Service).
Usage:
{{ include "insight-pu.matchLabels" . }}
*/}}
{{- define "insight-pu.matchLabels" -}}
{{- include "insight-common.labels.matchLabels" (dict "name" "insight-pu" "component" "pu" "context" .) -}}
{{- end -}}

{{/*
Labels selecting the pods of one partition: each partition is its own StatefulSet, so
its selector must not overlap the others'.
Usage:
{{ include "insight-pu.partitionMatchLabels" (dict "partition" 0 "context" $) }}
*/}}
{{- define "insight-pu.partitionMatchLabels" -}}
{{ include "insight-pu.matchLabels" .context }}
insight.dev/partition: {{ .partition | toString | quote }}
{{- end -}}

{{/*
Messages for the PU values that break a cross-field rule; prefix is how the user reaches
the keys ("" standalone, "pu." in the umbrella).
Usage:
{{ include "insight-pu.validateValues.messages" (dict "values" .Values "prefix" "" "context" $) }}
*/}}
{{- define "insight-pu.validateValues.messages" -}}
{{- $v := .values -}}
{{- include "insight-common.resources.validateRequests" (dict "resources" $v.resources "key" (printf "%sresources" .prefix)) }}
{{- if not ((($v.resources | default dict).limits | default dict).memory) }}
{{ .prefix }}resources.limits.memory is not set: the grid sizes its memory (GOMEMLIMIT, maxmemory) from it; set e.g. {{ .prefix }}resources.limits.memory=512Mi.
{{- end }}
{{- include "insight-pu.validateTLS" . }}
{{- include "insight-pu.validatePartitionCount" . }}
{{- include "insight-pu.validateHAChange" . }}
{{- if and ($v.tiering | default dict).enabled (not ($v.persistence | default dict).enabled) }}
{{ .prefix }}tiering.enabled=true needs {{ .prefix }}persistence.enabled=true: the cold values live on the PU's PVC; set {{ .prefix }}persistence.enabled=true (and {{ .prefix }}persistence.size for the data on disk) or {{ .prefix }}tiering.enabled=false.
{{- end }}
{{- if and ($v.auth | default dict).users ($v.auth | default dict).aclSecret }}
{{ .prefix }}auth.users and {{ .prefix }}auth.aclSecret are both set: set only one (the users are read from the Secret's key users.acl).
{{- end }}
{{- end -}}

{{/*
The Secret whose key users.acl is the PUs' ACL file: auth.aclSecret, else "<base>-pu-acl"
when auth.users are given, else "" (no ACL users besides the default one).
Usage:
{{ include "insight-pu.aclSecret" . }}
*/}}
{{- define "insight-pu.aclSecret" -}}
{{- $auth := .Values.auth | default dict -}}
{{- if $auth.aclSecret -}}
{{- $auth.aclSecret -}}
{{- else if $auth.users -}}
{{- include "insight-pu.fullname" . }}-acl
{{- end -}}
{{- end -}}

{{/*
On an upgrade, the partition count may grow: the new partitions' StatefulSets start and
get slots once the manager is asked (insightctl scale --partitions, or POST
/v1/repartition; online re-partitioning). It may shrink only once the
partitions that go hold no slots: the manager must have moved their data off and removed
them from the partition map, which insightctl scale --partitions does and then marks
their StatefulSets with the annotation insight.io/drained: "true". Without that mark on
every StatefulSet that would go, the upgrade is refused before anything is deleted. It
reads the release's data StatefulSets with lookup, which finds nothing under helm template
or a client-side dry run (nothing to compare with).
*/}}
{{- define "insight-pu.validatePartitionCount" -}}
{{- $ctx := .context -}}
{{- $want := int .values.partitions -}}
{{- $installed := 0 -}}
{{- $undrained := list -}}
{{- /* where the StatefulSets are: insight-common.names.namespace with these values */ -}}
{{- $ns := default $ctx.Release.Namespace .values.namespaceOverride | trunc 63 | trimSuffix "-" -}}
{{- range (lookup "apps/v1" "StatefulSet" $ns "").items | default list -}}
{{- $l := .metadata.labels | default dict -}}
{{- if and (eq (get $l "app.kubernetes.io/instance") $ctx.Release.Name) (eq (get $l "app.kubernetes.io/name") "insight-pu") -}}
{{- $installed = add1 $installed -}}
{{- $drained := get (.metadata.annotations | default dict) "insight.io/drained" -}}
{{- if and (ge (int (get $l "insight.dev/partition")) $want) (ne $drained "true") -}}
{{- $undrained = append $undrained .metadata.name -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- if and (lt $want $installed) $undrained }}
{{ .prefix }}partitions={{ $want }} but release {{ $ctx.Release.Name }} runs {{ $installed }} partitions: fewer partitions would delete StatefulSets whose partitions still hold data ({{ join ", " (sortAlpha $undrained) }}). Scale in with insightctl scale {{ $ctx.Release.Name }} -n {{ $ctx.Release.Namespace }} --partitions {{ $want }}: it has the manager move their slots off first, marks them insight.io/drained, then upgrades. Until then keep {{ .prefix }}partitions={{ $installed }}.
{{- end }}
{{- end -}}

{{/*
On an upgrade, ha may change only through the manager: turning it on, the manager must
know to make each new ordinal-1 pod its partition's backup; turning it off, every
partition must acknowledge alone (its record names no backup, a failed-over partition is
back on ordinal 0) before the StatefulSets scale to one pod. insightctl scale --ha does
both and marks the StatefulSets with the annotation insight.io/ha: "<the new value>" just
before it upgrades; a change of ha on StatefulSets without that mark is refused before
anything changes. Like validatePartitionCount it reads the StatefulSets with lookup, which
finds nothing under helm template or a client-side dry run.
*/}}
{{- define "insight-pu.validateHAChange" -}}
{{- $ctx := .context -}}
{{- $want := ternary "true" "false" (.values.ha | default false) -}}
{{- $unmarked := list -}}
{{- $ns := default $ctx.Release.Namespace .values.namespaceOverride | trunc 63 | trimSuffix "-" -}}
{{- range (lookup "apps/v1" "StatefulSet" $ns "").items | default list -}}
{{- $l := .metadata.labels | default dict -}}
{{- if and (eq (get $l "app.kubernetes.io/instance") $ctx.Release.Name) (eq (get $l "app.kubernetes.io/name") "insight-pu") -}}
{{- $installed := ternary "true" "false" (ge (int (default 1 (.spec | default dict).replicas)) 2) -}}
{{- if and (ne $installed $want) (ne (get (.metadata.annotations | default dict) "insight.io/ha") $want) -}}
{{- $unmarked = append $unmarked .metadata.name -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- if $unmarked }}
{{ .prefix }}ha={{ $want }} but release {{ $ctx.Release.Name }} runs {{ ternary "without" "with" (eq $want "true") }} a backup per partition ({{ join ", " (sortAlpha $unmarked) }}): a plain upgrade would {{ ternary "start backups the manager does not expect" "stop backups that partitions still wait for" (eq $want "true") }}. Change it with insightctl scale {{ $ctx.Release.Name }} -n {{ $ctx.Release.Namespace }} --ha={{ $want }}: it has the manager {{ ternary "add the backups, then upgrades and follows them until in sync" "drop the backups first, then upgrades" (eq $want "true") }}. Until then keep {{ .prefix }}ha={{ ternary "false" "true" (eq $want "true") }}.
{{- end }}
{{- end -}}

{{/*
Fails with every message at once. As a subchart of insight, the umbrella validates instead.
Usage:
{{ include "insight-pu.validateValues" . }}
*/}}
{{- define "insight-pu.validateValues" -}}
{{- if not (include "insight-common.validations.isSubchart" (dict "context" .)) -}}
{{- $messages := list (include "insight-pu.validateValues.messages" (dict "values" .Values "prefix" "" "context" .)) (include "insight-common.auth.validate" (dict "context" .)) -}}
{{- include "insight-common.validations.fail" (dict "messages" (join "\n" $messages) "context" .) -}}
{{- end -}}
{{- end -}}

{{/*
Warnings printed by NOTES.txt: allowed but probably not what was meant.
Usage:
{{ include "insight-pu.warnings" (dict "values" .Values "prefix" "" "context" $) }}
*/}}
{{- define "insight-pu.warnings" -}}
{{- $v := .values -}}
{{- if and $v.antiAffinity.enabled (not $v.ha) }}
WARNING: {{ .prefix }}antiAffinity.enabled=true with {{ .prefix }}ha=false: each partition has one instance, so there is nothing to keep apart; set {{ .prefix }}ha=true for a backup in another {{ $v.antiAffinity.topology }} domain.
{{- end }}
{{- if not (or $v.ha $v.persistence.enabled) }}
NOTE: {{ .prefix }}ha=false and {{ .prefix }}persistence.enabled=false: a partition has one copy, in memory; a restarted pod starts empty.
{{- end }}
{{- end -}}

{{/*
Whether the PUs serve plain RESP on 6379: unless TLS is on, tls.port is set and
tls.plain=false.
Usage:
{{ if include "insight-pu.plainRESP" $ }}...{{ end }}
*/}}
{{- define "insight-pu.plainRESP" -}}
{{- if not (and (include "insight-common.tls.enabled" (dict "context" .)) .Values.tls.port (not .Values.tls.plain)) -}}true{{- end -}}
{{- end -}}

{{/*
Messages for tls: RESP over TLS needs the release's certificate (global.tls.enabled), and
turning plain RESP off needs the TLS port.
Usage:
{{ include "insight-pu.validateTLS" (dict "values" .Values "prefix" "" "context" $) }}
*/}}
{{- define "insight-pu.validateTLS" -}}
{{- $tls := .values.tls -}}
{{- $on := include "insight-common.tls.enabled" (dict "context" .context) -}}
{{- if and (not $on) (or $tls.port (not $tls.plain)) }}
{{ .prefix }}tls.port={{ $tls.port }} and {{ .prefix }}tls.plain={{ $tls.plain }} need the release's certificate, but global.tls.enabled=false: set global.tls.enabled=true, or {{ .prefix }}tls.port=0 and {{ .prefix }}tls.plain=true.
{{- else if and (not $tls.plain) (not $tls.port) }}
{{ .prefix }}tls.plain=false turns plain RESP off, but {{ .prefix }}tls.port is 0: the PUs would serve no RESP at all; set {{ .prefix }}tls.port (e.g. 6390).
{{- end }}
{{- if and $tls.port (has (int $tls.port) (list 6379 6380 8080)) }}
{{ .prefix }}tls.port={{ $tls.port }} is taken (6379 plain RESP, 6380 replication, 8080 HTTP); pick another, e.g. 6390.
{{- end }}
{{- end -}}
