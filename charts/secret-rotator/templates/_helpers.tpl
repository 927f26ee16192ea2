{{/*
Names and labels shared by every template.
*/}}

{{- define "secret-rotator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Full name: the release name, plus the chart name unless the release name already contains it.
*/}}
{{- define "secret-rotator.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "secret-rotator.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "secret-rotator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "secret-rotator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: operator
{{- end }}

{{- define "secret-rotator.labels" -}}
helm.sh/chart: {{ include "secret-rotator.chart" . }}
{{ include "secret-rotator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/part-of: secret-rotator
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "secret-rotator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "secret-rotator.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "secret-rotator.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{- define "secret-rotator.metricsServiceName" -}}
{{- printf "%s-metrics" (include "secret-rotator.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The label matcher every alert and dashboard query is scoped to.
*/}}
{{- define "secret-rotator.jobSelector" -}}
job="{{ default (include "secret-rotator.metricsServiceName" .) .Values.prometheusRule.job }}"
{{- end }}

{{/*
RBAC rules on namespaced resources: in a ClusterRole when every namespace is watched, in a Role in
the watched namespace otherwise. Keep in step with deploy/rbac.yaml (a test compares them).
*/}}
{{- define "secret-rotator.rules.namespaced" -}}
# Rotations: watched, read back after a conflict, patched to add and remove the finalizer.
- apiGroups: ["secret-rotator.dev"]
  resources: ["clientsecretrotations"]
  verbs: ["get", "list", "watch", "patch"]
# Their status: server-side apply (a patch).
- apiGroups: ["secret-rotator.dev"]
  resources: ["clientsecretrotations/status"]
  verbs: ["patch"]
{{- if .Values.rbac.ownerReferencesPermissionEnforcement }}
# OwnerReferencesPermissionEnforcement: the operator's Secrets block their rotation's deletion.
- apiGroups: ["secret-rotator.dev"]
  resources: ["clientsecretrotations/finalizers"]
  verbs: ["update"]
{{- end }}
# Namespaced providers: watched (read from the watch cache only).
- apiGroups: ["secret-rotator.dev"]
  resources: ["identityproviders"]
  verbs: ["list", "watch"]
# Their status (the Ready condition: can the operator sign in?): server-side apply.
- apiGroups: ["secret-rotator.dev"]
  resources: ["identityproviders/status"]
  verbs: ["patch"]
# Target and staging Secrets (metadata watched by label, read, server-side applied, deleted) and
# the sign-in Secrets of providers (read).
- apiGroups: [""]
  resources: ["secrets"]
  verbs: ["get", "list", "watch", "create", "patch", "delete"]
# Rollout targets: metadata watched, read and listed by selector; the pod-template annotation is
# patched.
- apiGroups: ["apps"]
  resources: ["deployments", "statefulsets", "daemonsets"]
  verbs: ["get", "list", "watch", "patch"]
# Events (events.k8s.io; repeats are folded into a series with a patch).
- apiGroups: ["events.k8s.io"]
  resources: ["events"]
  verbs: ["create", "patch"]
# Service-account tokens for workload identity of providers (TokenRequest API).
- apiGroups: [""]
  resources: ["serviceaccounts/token"]
  verbs: ["create"]
{{- end }}

{{/*
RBAC rules on cluster-scoped resources: always in a ClusterRole. Namespaces are watched only when
every namespace is; a namespace-scoped operator reads its one namespace's labels.
*/}}
{{- define "secret-rotator.rules.clusterScoped" -}}
# Cluster providers: watched (read from the watch cache only).
- apiGroups: ["secret-rotator.dev"]
  resources: ["clusteridentityproviders"]
  verbs: ["list", "watch"]
# Their status (the Ready condition: can the operator sign in?): server-side apply.
- apiGroups: ["secret-rotator.dev"]
  resources: ["clusteridentityproviders/status"]
  verbs: ["patch"]
# Namespace labels, for the namespaceSelector of ClusterIdentityProvider grants.
- apiGroups: [""]
  resources: ["namespaces"]
  {{- if .Values.watchNamespaces }}
  verbs: ["get"]
  {{- else }}
  verbs: ["get", "list", "watch"]
  {{- end }}
{{- end }}
