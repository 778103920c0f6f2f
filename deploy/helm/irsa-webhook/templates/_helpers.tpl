{{- define "irsa-webhook.name" -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "irsa-webhook.labels" -}}
app.kubernetes.io/name: irsa-webhook
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "irsa-webhook.secret" -}}
{{- if .Values.tls.certManager -}}{{ include "irsa-webhook.name" . }}-tls{{- else -}}{{ required "tls.secretName is required without cert-manager" .Values.tls.secretName }}{{- end -}}
{{- end -}}
