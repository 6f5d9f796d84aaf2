{{/*
Names shared by every chart of the suite. All charts derive their object names from one
base, so a chart can refer to another chart's objects (the manager reads the PU
ConfigMap, the PUs read the manager's) without seeing its values. The base ignores the
chart's name and alias: the same release gets the same names standalone or in the umbrella.
*/}}

{{/*
The base name of every object of the release: global.fullnameOverride, else the release
name when it already contains "insight", else "<release>-insight". Truncated to 40
characters so that "<base>-pu-<partition>-headless" and the StatefulSet controller's
"<statefulset>-<hash>" revision labels stay within 63.
Usage:
{{ include "insight-common.names.fullname" (dict "context" $) }}
*/}}
{{- define "insight-common.names.fullname" -}}
{{- $global := .context.Values.global | default dict -}}
{{- if $global.fullnameOverride -}}
{{- $global.fullnameOverride | trunc 40 | trimSuffix "-" -}}
{{- else if contains "insight" .context.Release.Name -}}
{{- .context.Release.Name | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-insight" .context.Release.Name | trunc 40 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/*
The name of a component's objects: "<base>-<component>".
Usage:
{{ include "insight-common.names.component" (dict "component" "pu" "context" $) }}
*/}}
{{- define "insight-common.names.component" -}}
{{- printf "%s-%s" (include "insight-common.names.fullname" .) .component | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
The namespace of the release, overridable with namespaceOverride.
Usage:
{{ include "insight-common.names.namespace" (dict "context" $) }}
*/}}
{{- define "insight-common.names.namespace" -}}
{{- default .context.Release.Namespace .context.Values.namespaceOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
The fully qualified DNS suffix of a headless Service: "<service>.<namespace>.svc.<clusterDomain>".
Usage:
{{ include "insight-common.names.serviceDomain" (dict "service" "x-headless" "context" $) }}
*/}}
{{- define "insight-common.names.serviceDomain" -}}
{{- $global := .context.Values.global | default dict -}}
{{- printf "%s.%s.svc.%s" .service (include "insight-common.names.namespace" .) (default "cluster.local" $global.clusterDomain) -}}
{{- end -}}

{{/*
The ServiceAccount a component's pods run as: serviceAccount.name, else the component's
name when serviceAccount.create, else "default".
Usage:
{{ include "insight-common.names.serviceAccount" (dict "component" "pu" "context" $) }}
*/}}
{{- define "insight-common.names.serviceAccount" -}}
{{- $sa := .context.Values.serviceAccount | default dict -}}
{{- if $sa.create -}}
{{- default (include "insight-common.names.component" .) $sa.name -}}
{{- else -}}
{{- default "default" $sa.name -}}
{{- end -}}
{{- end -}}
