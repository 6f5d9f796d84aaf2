{{/*
The operator token. global.operatorToken is shared by the managers and the PUs: every
change through the manager API (and a PU's /v1/handover) must present the token of this
Secret, which the managers and the PUs read as a file (re-read when the Secret changes),
and insightctl reads with the user's credentials.
*/}}

{{/*
Whether the token is on: global.operatorToken.enabled, true when unset.
Usage:
{{ include "insight-common.operatorToken.enabled" (dict "context" $) }}
*/}}
{{- define "insight-common.operatorToken.enabled" -}}
{{- $ot := (.context.Values.global | default dict).operatorToken | default dict -}}
{{- if or (not (hasKey $ot "enabled")) $ot.enabled -}}true{{- end -}}
{{- end -}}

{{/*
The Secret that holds the token: global.operatorToken.existingSecret, else
"<base>-operator-token".
Usage:
{{ include "insight-common.operatorToken.secretName" (dict "context" $) }}
*/}}
{{- define "insight-common.operatorToken.secretName" -}}
{{- $ot := (.context.Values.global | default dict).operatorToken | default dict -}}
{{- default (printf "%s-operator-token" (include "insight-common.names.fullname" .)) $ot.existingSecret -}}
{{- end -}}

{{/*
The key of the token in that Secret.
Usage:
{{ include "insight-common.operatorToken.secretKey" (dict "context" $) }}
*/}}
{{- define "insight-common.operatorToken.secretKey" -}}
{{- $ot := (.context.Values.global | default dict).operatorToken | default dict -}}
{{- if $ot.existingSecret -}}
{{- default "token" $ot.existingSecretKey -}}
{{- else -}}
token
{{- end -}}
{{- end -}}

{{/*
The volume holding the token as the file "token" (a directory mount, so a rotated Secret
reaches the pod without a restart).
Usage:
{{ include "insight-common.operatorToken.volume" (dict "context" $) }}
*/}}
{{- define "insight-common.operatorToken.volume" -}}
- name: operator-token
  secret:
    secretName: {{ include "insight-common.operatorToken.secretName" . }}
    defaultMode: 0440
    items:
      - key: {{ include "insight-common.operatorToken.secretKey" . }}
        path: token
{{- end -}}

{{/*
The mount of that volume and the environment variable naming the file.
Usage:
{{ include "insight-common.operatorToken.mount" (dict "context" $) }}
{{ include "insight-common.operatorToken.env" (dict "context" $) }}
*/}}
{{- define "insight-common.operatorToken.mount" -}}
- name: operator-token
  mountPath: /etc/insight/operator-token
  readOnly: true
{{- end -}}

{{- define "insight-common.operatorToken.env" -}}
- name: INSIGHT_OPERATOR_TOKEN_FILE
  value: /etc/insight/operator-token/token
{{- end -}}
