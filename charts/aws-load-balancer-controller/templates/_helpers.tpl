{{/* Chart name, overridable. Also the `app.kubernetes.io/name` label the webhooks exclude. */}}
{{- define "alb.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Release-qualified name for namespaced objects and RBAC. */}}
{{- define "alb.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/*
Prefix of the webhook objects, as upstream: "aws-load-balancer" unless nameOverride is set, giving
aws-load-balancer-webhook, aws-load-balancer-webhook-service and aws-load-balancer-tls.
*/}}
{{- define "alb.namePrefix" -}}
{{- default (trimSuffix "-controller" .Chart.Name) .Values.nameOverride | trunc 42 | trimSuffix "-" -}}
{{- end -}}

{{- define "alb.webhookName" -}}
{{- printf "%s-webhook" (include "alb.namePrefix" .) -}}
{{- end -}}

{{- define "alb.webhookService" -}}
{{- printf "%s-webhook-service" (include "alb.namePrefix" .) -}}
{{- end -}}

{{- define "alb.tlsSecret" -}}
{{- printf "%s-tls" (include "alb.namePrefix" .) -}}
{{- end -}}

{{- define "alb.servingCert" -}}
{{- printf "%s-serving-cert" (include "alb.namePrefix" .) -}}
{{- end -}}

{{- define "alb.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "alb.selectorLabels" -}}
app.kubernetes.io/name: {{ include "alb.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "alb.labels" -}}
helm.sh/chart: {{ include "alb.chart" . }}
{{ include "alb.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- with .Values.additionalLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{- define "alb.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "alb.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* The cluster name, or a render failure that says what to set. */}}
{{- define "alb.clusterName" -}}
{{- if not .Values.clusterName -}}
{{- fail "clusterName is required: set it to the name of this Kubernetes cluster (e.g. --set clusterName=my-eks). It is part of every AWS resource name and ownership tag, so it must not change later." -}}
{{- end -}}
{{- .Values.clusterName -}}
{{- end -}}

{{/* DNS names the API server may use to reach the webhook Service. */}}
{{- define "alb.webhookDNSNames" -}}
{{- $svc := include "alb.webhookService" . -}}
{{- $ns := .Release.Namespace -}}
{{- list $svc (printf "%s.%s" $svc $ns) (printf "%s.%s.svc" $svc $ns) (printf "%s.%s.svc.%s" $svc $ns .Values.cluster.dnsDomain) | toJson -}}
{{- end -}}

{{/*
Webhook TLS material as YAML: source (user | existing | generated), and ca / cert / key, each
base64 encoded. Call it once per rendered file: a generated CA differs on every call.
Not used with cert-manager.
*/}}
{{- define "alb.webhookTLS" -}}
{{- $tls := .Values.webhookTLS -}}
{{- $given := list $tls.caCert $tls.cert $tls.key | compact -}}
{{- if eq (len $given) 3 -}}
source: user
ca: {{ $tls.caCert | b64enc }}
cert: {{ $tls.cert | b64enc }}
key: {{ $tls.key | b64enc }}
{{- else if $given -}}
{{- fail "webhookTLS: set all three of caCert, cert and key (PEM), or none of them" -}}
{{- else -}}
{{- $existing := dict -}}
{{- if .Values.keepTLSSecret -}}
{{- $existing = lookup "v1" "Secret" .Release.Namespace (include "alb.tlsSecret" .) -}}
{{- end -}}
{{- $data := dig "data" (dict) $existing -}}
{{- if and (index $data "ca.crt") (index $data "tls.crt") (index $data "tls.key") -}}
source: existing
ca: {{ index $data "ca.crt" }}
cert: {{ index $data "tls.crt" }}
key: {{ index $data "tls.key" }}
{{- else -}}
{{- $dnsNames := include "alb.webhookDNSNames" . | fromJsonArray -}}
{{- $days := int $tls.validityDays -}}
{{- $ca := genCA (printf "%s-ca" (include "alb.fullname" .)) $days -}}
{{- $cert := genSignedCert (index $dnsNames 2) nil $dnsNames $days $ca -}}
source: generated
ca: {{ $ca.Cert | b64enc }}
cert: {{ $cert.Cert | b64enc }}
key: {{ $cert.Key | b64enc }}
{{- end -}}
{{- end -}}
{{- end -}}

{{/*
One webhook's clientConfig. Arguments: dict with "root" (the top context), "path", "ca"
(base64 CA bundle; empty with cert-manager, which injects it).
*/}}
{{- define "alb.clientConfig" -}}
clientConfig:
  {{- if .ca }}
  caBundle: {{ .ca }}
  {{- end }}
  service:
    name: {{ include "alb.webhookService" .root }}
    namespace: {{ .root.Release.Namespace }}
    path: {{ .path }}
    port: 443
{{- end -}}

{{/* Selector excluding the chart's own objects (by app.kubernetes.io/name). */}}
{{- define "alb.notSelf" -}}
- key: app.kubernetes.io/name
  operator: NotIn
  values:
    - {{ include "alb.name" . }}
{{- end -}}
