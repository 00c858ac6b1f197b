{{/* Name of a role's objects: <release>-<role>, or <role> when the release is named lantern. */}}
{{- define "lantern.name" -}}
{{- $root := index . 0 -}}{{- $role := index . 1 -}}
{{- printf "%s-%s" $root.Release.Name $role | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "lantern.selector" -}}
{{- $root := index . 0 -}}{{- $role := index . 1 -}}
app.kubernetes.io/name: lantern
app.kubernetes.io/instance: {{ $root.Release.Name }}
app.kubernetes.io/component: {{ $role }}
{{- end -}}

{{- define "lantern.labels" -}}
{{- $root := index . 0 -}}
{{ include "lantern.selector" . }}
app.kubernetes.io/part-of: lantern
app.kubernetes.io/managed-by: {{ $root.Release.Service }}
app.kubernetes.io/version: {{ $root.Chart.AppVersion | quote }}
helm.sh/chart: {{ printf "%s-%s" $root.Chart.Name $root.Chart.Version }}
{{- with $root.Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{- define "lantern.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}

{{/* Flags every role shares. */}}
{{- define "lantern.commonArgs" -}}
- --log-format={{ .Values.logFormat }}
- --log-level={{ .Values.logLevel }}
- --telemetry={{ .Values.telemetry }}
- --data-dir=/var/lib/lantern
{{- end -}}

{{- define "lantern.url" -}}
{{- $root := index . 0 -}}{{- $role := index . 1 -}}{{- $port := index . 2 -}}
http://{{ include "lantern.name" (list $root $role) }}.{{ $root.Release.Namespace }}.svc:{{ $port }}
{{- end -}}

{{/* Pod annotations: Prometheus scraping of the port that serves /metrics. */}}
{{- define "lantern.podAnnotations" -}}
{{- $root := index . 0 -}}{{- $port := index . 1 -}}
{{- if $root.Values.metrics.podAnnotations }}
prometheus.io/scrape: "true"
prometheus.io/port: {{ $port | quote }}
prometheus.io/path: /metrics
{{- end }}
{{- end -}}

{{- define "lantern.podCommon" -}}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
{{ toYaml . }}
{{- end }}
{{- with .Values.nodeSelector }}
nodeSelector:
{{ toYaml . }}
{{- end }}
{{- with .Values.tolerations }}
tolerations:
{{ toYaml . }}
{{- end }}
securityContext:
  runAsNonRoot: true
  runAsUser: 65532
  fsGroup: 65532
{{- end -}}

{{- define "lantern.containerSecurity" -}}
securityContext:
  allowPrivilegeEscalation: false
  capabilities: {drop: [ALL]}
{{- end -}}

{{/* "true" when the logger reads the pool pods' logs on each node: pool
pods (poolmgr.instances: pods) and logger.podLogs.enabled. */}}
{{- define "lantern.podLogs" -}}
{{- if and .Values.logger.enabled .Values.logger.podLogs.enabled (eq .Values.poolmgr.instances "pods") -}}true{{- end -}}
{{- end -}}

{{/* "true" when the logger needs to read pool pods in the API: it reads
their logs, or attributes the lines Fluentd forwards. */}}
{{- define "lantern.loggerReadsPods" -}}
{{- if or (include "lantern.podLogs" .) (and .Values.logger.enabled .Values.fluentd.enabled) -}}true{{- end -}}
{{- end -}}
