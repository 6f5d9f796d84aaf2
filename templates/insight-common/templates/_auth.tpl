{{/*
Authentication. global.auth is shared by every chart of the suite: the PUs require the
password, and any client chart reads it from the same Secret.
*/}}

{{/*
The Secret that holds the password: global.auth.existingSecret, else "<base>-auth".
Usage:
{{ include "insight-common.auth.secretName" (dict "context" $) }}
*/}}
{{- define "insight-common.auth.secretName" -}}
{{- $auth := (.context.Values.global | default dict).auth | default dict -}}
{{- default (printf "%s-auth" (include "insight-common.names.fullname" .)) $auth.existingSecret -}}
{{- end -}}

{{/*
The key of the password in that Secret.
Usage:
{{ include "insight-common.auth.secretKey" (dict "context" $) }}
*/}}
{{- define "insight-common.auth.secretKey" -}}
{{- $auth := (.context.Values.global | default dict).auth | default dict -}}
{{- if $auth.existingSecret -}}
{{- default "password" $auth.existingSecretPasswordKey -}}
{{- else -}}
password
{{- end -}}
{{- end -}}

{{/*
Messages for inconsistent global.auth values.
Usage:
{{ include "insight-common.auth.validate" (dict "context" $) }}
*/}}
{{- define "insight-common.auth.validate" -}}
{{- $auth := (.context.Values.global | default dict).auth | default dict -}}
{{- if $auth.enabled -}}
{{- if and $auth.password $auth.existingSecret }}
global.auth.password and global.auth.existingSecret are both set: set only one (the password is read from existingSecret).
{{- else if not (or $auth.password $auth.existingSecret) }}
global.auth.enabled=true needs a password: set global.auth.password, or global.auth.existingSecret to a Secret holding it.
{{- end -}}
{{- end -}}
{{- end -}}
