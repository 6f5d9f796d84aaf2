{{/*
TLS inside the release. global.tls is shared by the managers and the PUs: one
certificate for the release (server and client at once), its key and its CA, in one
Secret with the keys tls.crt, tls.key and ca.crt (a kubernetes.io/tls Secret as
cert-manager writes it). Its source, in this order: global.tls.existingSecret (the
user's), else a cert-manager Certificate when global.tls.certManager.issuerRef.name is
set, else a CA and certificate the manager chart makes once and keeps across upgrades.
*/}}

{{/*
Whether TLS is on: global.tls.enabled, true when unset.
Usage:
{{ include "insight-common.tls.enabled" (dict "context" $) }}
*/}}
{{- define "insight-common.tls.enabled" -}}
{{- $tls := (.context.Values.global | default dict).tls | default dict -}}
{{- if or (not (hasKey $tls "enabled")) $tls.enabled -}}true{{- end -}}
{{- end -}}

{{/*
Where the certificate comes from: "existingSecret", "certManager" or "generated".
Usage:
{{ include "insight-common.tls.source" (dict "context" $) }}
*/}}
{{- define "insight-common.tls.source" -}}
{{- $tls := (.context.Values.global | default dict).tls | default dict -}}
{{- if $tls.existingSecret -}}
existingSecret
{{- else if ((($tls.certManager | default dict).issuerRef | default dict).name) -}}
certManager
{{- else -}}
generated
{{- end -}}
{{- end -}}

{{/*
The Secret holding tls.crt, tls.key and ca.crt: global.tls.existingSecret, else
"<base>-tls" (made by the chart or by cert-manager).
Usage:
{{ include "insight-common.tls.secretName" (dict "context" $) }}
*/}}
{{- define "insight-common.tls.secretName" -}}
{{- $tls := (.context.Values.global | default dict).tls | default dict -}}
{{- default (printf "%s-tls" (include "insight-common.names.fullname" .)) $tls.existingSecret -}}
{{- end -}}

{{/*
The DNS names the release's certificate carries, one a line: the managers' Service and
their headless Service with a wildcard for each pod under it, the PUs' client Service, the
WAN gateway's Service (the other sites check its name),
each as "<svc>", "<svc>.<ns>", "<svc>.<ns>.svc" and "<svc>.<ns>.svc.<clusterDomain>",
and localhost (a port-forward). The PUs advertise their pod IPs, and the grid's own
links (replication, etcd, the managers' calls) verify the CA's signature, not a name.
Usage:
{{ include "insight-common.tls.dnsNames" (dict "context" $) | splitList "\n" }}
*/}}
{{- define "insight-common.tls.dnsNames" -}}
{{- $ns := include "insight-common.names.namespace" . -}}
{{- $domain := default "cluster.local" ((.context.Values.global | default dict).clusterDomain) -}}
{{- $manager := include "insight-common.names.component" (dict "component" "manager" "context" .context) -}}
{{- $names := list -}}
{{- range $svc := list $manager (printf "%s-headless" $manager) (include "insight-common.names.component" (dict "component" "pu" "context" .context)) (include "insight-common.names.component" (dict "component" "wan-gateway" "context" .context)) -}}
{{- $names = concat $names (list $svc (printf "%s.%s" $svc $ns) (printf "%s.%s.svc" $svc $ns) (printf "%s.%s.svc.%s" $svc $ns $domain)) -}}
{{- end -}}
{{- $names = concat $names (list (printf "*.%s-headless.%s.svc" $manager $ns) (printf "*.%s-headless.%s.svc.%s" $manager $ns $domain) "localhost") -}}
{{- join "\n" $names -}}
{{- end -}}

{{/*
The volume holding the Secret's three keys as files (a directory mount, so a rotated
Secret reaches the pod without a restart; the grid reads the files again when they
change). Readable by the pod's fsGroup.
Usage:
{{ include "insight-common.tls.volume" (dict "context" $) }}
*/}}
{{- define "insight-common.tls.volume" -}}
- name: tls
  secret:
    secretName: {{ include "insight-common.tls.secretName" . }}
    defaultMode: 0440
    items:
      - key: tls.crt
        path: tls.crt
      - key: tls.key
        path: tls.key
      - key: ca.crt
        path: ca.crt
{{- end -}}

{{/*
The mount of that volume, and the environment naming the files (--tls-cert-file,
--tls-key-file, --tls-ca-cert-file).
Usage:
{{ include "insight-common.tls.mount" (dict "context" $) }}
{{ include "insight-common.tls.env" (dict "context" $) }}
*/}}
{{- define "insight-common.tls.mount" -}}
- name: tls
  mountPath: /etc/insight/tls
  readOnly: true
{{- end -}}

{{- define "insight-common.tls.env" -}}
- name: INSIGHT_TLS_CERT_FILE
  value: /etc/insight/tls/tls.crt
- name: INSIGHT_TLS_KEY_FILE
  value: /etc/insight/tls/tls.key
- name: INSIGHT_TLS_CA_CERT_FILE
  value: /etc/insight/tls/ca.crt
{{- end -}}

{{/*
The scheme of the HTTP ports (the managers' API, the PUs' admin port): HTTPS with TLS.
Usage:
{{ include "insight-common.tls.httpScheme" (dict "context" $) }}
*/}}
{{- define "insight-common.tls.httpScheme" -}}
{{- ternary "HTTPS" "HTTP" (eq (include "insight-common.tls.enabled" .) "true") -}}
{{- end -}}

{{/*
The Secret the chart makes: a CA and a certificate it signs for the release's DNS names
(server and client), made ONCE: an upgrade reads the Secret back (lookup) and keeps all
three keys, so the processes' certificate, and the CA every client trusts, survive every
helm upgrade. helm template and GitOps tools cannot look up: they would make a new CA on
every render, so they use global.tls.existingSecret or cert-manager.
Usage:
{{ include "insight-common.tls.generatedSecret" (dict "labels" $labels "context" $) }}
*/}}
{{- define "insight-common.tls.generatedSecret" -}}
{{- $tls := .context.Values.global.tls | default dict -}}
{{- $name := include "insight-common.tls.secretName" . -}}
{{- $ns := include "insight-common.names.namespace" . -}}
{{- $data := (lookup "v1" "Secret" $ns $name).data | default dict -}}
{{- if not (and (get $data "tls.crt") (get $data "tls.key") (get $data "ca.crt")) -}}
{{- $days := int (default 3650 $tls.validityDays) -}}
{{- $ca := genCAWithKey (printf "%s CA" (include "insight-common.names.fullname" .)) $days (genPrivateKey "ecdsa") -}}
{{- $dns := list -}}
{{- range include "insight-common.tls.dnsNames" . | splitList "\n" -}}{{- $dns = append $dns . -}}{{- end -}}
{{- $cert := genSignedCertWithKey (include "insight-common.names.fullname" .) (list "127.0.0.1") $dns $days $ca (genPrivateKey "ecdsa") -}}
{{- $data = dict "tls.crt" ($cert.Cert | b64enc) "tls.key" ($cert.Key | b64enc) "ca.crt" ($ca.Cert | b64enc) -}}
{{- end -}}
apiVersion: v1
kind: Secret
metadata:
  name: {{ $name }}
  namespace: {{ $ns }}
  labels: {{- .labels | nindent 4 }}
type: kubernetes.io/tls
data:
  tls.crt: {{ get $data "tls.crt" | quote }}
  tls.key: {{ get $data "tls.key" | quote }}
  ca.crt: {{ get $data "ca.crt" | quote }}
{{- end -}}

{{/*
The cert-manager Certificate that writes the Secret, for the same DNS names, signed by
global.tls.certManager.issuerRef. The issuer must put its CA in ca.crt (a CA or Vault
issuer does; ACME does not), as the processes verify each other against it.
Usage:
{{ include "insight-common.tls.certificate" (dict "labels" $labels "context" $) }}
*/}}
{{- define "insight-common.tls.certificate" -}}
{{- $cm := .context.Values.global.tls.certManager -}}
apiVersion: cert-manager.io/v1
kind: Certificate
metadata:
  name: {{ include "insight-common.tls.secretName" . }}
  namespace: {{ include "insight-common.names.namespace" . }}
  labels: {{- .labels | nindent 4 }}
spec:
  secretName: {{ include "insight-common.tls.secretName" . }}
  commonName: {{ include "insight-common.names.fullname" . }}
  privateKey:
    algorithm: ECDSA
    size: 256
    rotationPolicy: Always
  usages:
    - digital signature
    - key encipherment
    - server auth
    - client auth
  dnsNames: {{- include "insight-common.tls.dnsNames" . | splitList "\n" | toYaml | nindent 4 }}
  ipAddresses:
    - 127.0.0.1
  issuerRef:
    name: {{ $cm.issuerRef.name }}
    kind: {{ default "Issuer" $cm.issuerRef.kind }}
    group: {{ default "cert-manager.io" $cm.issuerRef.group }}
{{- end -}}

{{/*
Messages for global.tls that break a rule: cert-manager's API must be served for its
source, and TLS may not be switched on or off by an upgrade (see validateChange).
Usage:
{{ include "insight-common.tls.validate" (dict "context" $) }}
*/}}
{{- define "insight-common.tls.validate" -}}
{{- if include "insight-common.tls.enabled" . -}}
{{- if and (eq (include "insight-common.tls.source" .) "certManager") (not (.context.Capabilities.APIVersions.Has "cert-manager.io/v1")) }}
global.tls.certManager.issuerRef.name is set, but the cluster does not serve cert-manager.io/v1 (cert-manager's CRDs): install cert-manager first, or set global.tls.existingSecret to a Secret of your own, or unset global.tls.certManager.issuerRef.name to let the chart make the certificate (with helm template, pass --api-versions cert-manager.io/v1).
{{- end }}
{{- end }}
{{- include "insight-common.tls.validateChange" . }}
{{- end -}}

{{/*
Switching TLS on or off is not rolling-safe: etcd's members would change the scheme of
their peer URLs one by one (the old and the new cannot talk), and the data pods'
replication links move to another port with another handshake. So an upgrade keeps the
release as it was installed: a release whose manager StatefulSet mounts no certificate
(installed plain, or before the chart had TLS) cannot be upgraded with TLS on, nor the
other way round; the message says what to set. docs/operations.md has the runbook. It
reads the StatefulSet with lookup, which finds nothing under helm template or a
client-side dry run (nothing to compare with).
Usage:
{{ include "insight-common.tls.validateChange" (dict "context" $) }}
*/}}
{{- define "insight-common.tls.validateChange" -}}
{{- $ctx := .context -}}
{{- $want := ternary "true" "false" (eq (include "insight-common.tls.enabled" .) "true") -}}
{{- $ns := include "insight-common.names.namespace" . -}}
{{- range (lookup "apps/v1" "StatefulSet" $ns "").items | default list -}}
{{- $l := .metadata.labels | default dict -}}
{{- if and (eq (get $l "app.kubernetes.io/instance") $ctx.Release.Name) (eq (get $l "app.kubernetes.io/name") "insight-manager") -}}
{{- $installed := "false" -}}
{{- range ((.spec.template | default dict).spec | default dict).volumes | default list -}}
{{- if eq .name "tls" -}}{{- $installed = "true" -}}{{- end -}}
{{- end -}}
{{- if ne $installed $want }}
global.tls.enabled={{ $want }} but release {{ $ctx.Release.Name }} runs {{ ternary "with TLS" "without TLS" (eq $installed "true") }} ({{ .metadata.name }}): switching TLS by an upgrade is not rolling-safe (etcd's peers and the replication links cannot talk across the change). Keep global.tls.enabled={{ $installed }}, or follow docs/operations.md, "Turning TLS on for an existing release" (uninstall, then install again).
{{- end }}
{{- end -}}
{{- end -}}
{{- end -}}
