{{- define "tremolo.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "tremolo.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* The server pods only: the exporter's pods carry component=exporter, and a Service, PDB or
Deployment selecting on name and instance alone would take them in too. */}}
{{- define "tremolo.serverSelectorLabels" -}}
{{ include "tremolo.selectorLabels" . }}
app.kubernetes.io/component: server
{{- end -}}

{{- define "tremolo.labels" -}}
{{ include "tremolo.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/part-of: tremolo
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "tremolo.secretName" -}}
{{- .Values.existingSecret | default (printf "%s-secrets" (include "tremolo.fullname" .)) -}}
{{- end -}}
