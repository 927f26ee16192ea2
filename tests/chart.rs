//! The Helm chart `charts/secret-rotator`, validated offline with Helm's own Go SDK
//! (`helm-python-sdk`, pinned, installed from PyPI into a cached virtualenv) and
//! `kubernetes-validate` (pinned schemas of Kubernetes 1.33):
//!
//! * it lints clean and renders with every `ci/*.yaml` values file;
//! * every rendered built-in object validates strictly against Kubernetes 1.33; the objects of
//!   other APIs (prometheus-operator's ServiceMonitor and PrometheusRule), which have no bundled
//!   schema, are checked here instead: the ServiceMonitor selects the metrics Service and port,
//!   and every alert is PromQL that parses and reads only metrics of the contract
//!   (`docs/metrics.md`), scoped to the operator's job, with a runbook in `docs/alerts.md`;
//! * `values.schema.json` rejects bad values (and `helm install` would refuse them);
//! * the rendered RBAC is exactly `deploy/`'s with default values, and confined to the watched
//!   namespaces in a namespace-scoped install;
//! * the rendered chart and the kustomize base apply cleanly, twice, with kubectl 1.33 to the
//!   sandbox API server.

mod packaging_support;

use std::collections::BTreeSet;
use std::path::Path;

use packaging_support::{
    helm::{NAMESPACE, Rendered, ci_values, ci_values_files, toolchain},
    kubectl::{self, Kubectl},
    manifests::{self, find, grants, kustomize, of_kind, rbac_summary},
    metrics_contract, promql, read,
};
use sandbox::apiserver::{ADMIN_TOKEN, ApiServer};
use secret_rotator::api::wellknown;
use serde_json::Value;

/// Kinds of other APIs in the rendered chart: no schema is bundled for them, so they get the
/// structural checks of this file instead.
const CUSTOM_KINDS: &[&str] = &["ServiceMonitor", "PrometheusRule"];

fn write_values(dir: &Path, name: &str, yaml: &str) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, yaml).unwrap();
    path
}

#[test]
fn chart_lints_clean_with_every_ci_values_file() {
    let tools = toolchain();
    let files = ci_values_files();
    assert!(
        files.len() >= 4,
        "expected at least 4 ci values files, found {files:?}"
    );
    for file in files {
        let findings = tools.lint(&file);
        // Severity 1 is INFO (e.g. "icon is recommended"); warnings (2) and errors (3) fail.
        let serious: Vec<_> = findings
            .iter()
            .filter(|(severity, _, _)| *severity >= 2)
            .collect();
        assert!(
            serious.is_empty(),
            "helm lint --strict with {}: {serious:#?}",
            file.display()
        );
    }
}

#[test]
fn rendered_chart_validates_strictly_against_kubernetes_1_33() {
    let tools = toolchain();
    for file in ci_values_files() {
        let rendered = tools.render(&file);
        let all = rendered.all();
        let (ok, report) = tools.kubernetes_validate(&rendered.yaml);
        assert!(ok, "kubernetes-validate failed for {}:\n{report}", file.display());
        let builtin = all
            .iter()
            .filter(|d| !CUSTOM_KINDS.contains(&d["kind"].as_str().unwrap_or_default()))
            .count();
        let passed = report
            .lines()
            .filter(|l| l.contains(" passed for resource "))
            .count();
        assert_eq!(
            passed,
            builtin,
            "every built-in object must be validated (not skipped) for {}:\n{report}",
            file.display()
        );
        for line in report.lines().filter(|l| l.contains("Couldn't find schema")) {
            assert!(
                CUSTOM_KINDS.iter().any(|k| line.contains(&format!("kind {k} "))),
                "{}: no schema for an unexpected kind: {line}",
                file.display()
            );
        }
        assert!(
            !report.contains("ERROR") && !report.contains("FAIL"),
            "{}:\n{report}",
            file.display()
        );
    }
}

#[test]
fn ci_values_files_pass_the_values_schema() {
    let tools = toolchain();
    for file in ci_values_files() {
        if let Err(e) = tools.validate_values(&file) {
            panic!("{} is rejected by values.schema.json: {e}", file.display());
        }
    }
}

#[test]
fn values_schema_rejects_bad_values() {
    let tools = toolchain();
    let dir = tempfile::tempdir().unwrap();
    // (case, values, a fragment the error must contain)
    let cases = [
        ("unknown top-level key", "replicas: 2\n", "replicas"),
        (
            "unknown nested key",
            "metrics:\n  serviceMonitor:\n    enable: true\n",
            "enable",
        ),
        ("zero replicas", "replicaCount: 0\n", "replicaCount"),
        ("replicas as text", "replicaCount: two\n", "replicaCount"),
        (
            "unknown pull policy",
            "image:\n  pullPolicy: Sometimes\n",
            "pullPolicy",
        ),
        ("digest without algorithm", "image:\n  digest: latest\n", "digest"),
        ("unknown log format", "logging:\n  format: xml\n", "format"),
        (
            "namespace not a DNS label",
            "watchNamespaces: [Team_A]\n",
            "watchNamespaces",
        ),
        ("two namespaces", "watchNamespaces: [a, b]\n", "watchNamespaces"),
        (
            "workload identity without client id",
            "workloadIdentity:\n  enabled: true\n",
            "clientId",
        ),
        (
            "client id not a GUID",
            "workloadIdentity:\n  enabled: true\n  clientId: my-app\n",
            "clientId",
        ),
        (
            "scrape interval without unit",
            "metrics:\n  serviceMonitor:\n    interval: 30\n",
            "interval",
        ),
        (
            "unknown alert to disable",
            "prometheusRule:\n  disabledAlerts: [NoSuchAlert]\n",
            "disabledAlerts",
        ),
        ("port out of range", "metrics:\n  port: 70000\n", "port"),
        ("env var without name", "extraEnv:\n  - value: x\n", "name"),
        (
            "resources with a typo",
            "resources:\n  limit:\n    cpu: 1\n",
            "limit",
        ),
        (
            "dashboard labels not strings",
            "grafanaDashboard:\n  labels:\n    grafana_dashboard: 1\n",
            "grafana_dashboard",
        ),
    ];
    let mut failures = vec![];
    for (i, (case, yaml, fragment)) in cases.iter().enumerate() {
        let file = write_values(dir.path(), &format!("bad-{i}.yaml"), yaml);
        match tools.validate_values(&file) {
            Ok(()) => failures.push(format!("{case}: accepted {yaml:?}")),
            Err(message) if !message.contains(fragment) => {
                failures.push(format!("{case}: error does not name {fragment:?}: {message}"))
            }
            Err(_) => {}
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
    // What `helm install`/`helm template` do with such values: refuse to render.
    let file = write_values(dir.path(), "bad-render.yaml", "replicaCount: 0\n");
    let err = tools
        .try_render(&file)
        .err()
        .expect("rendering with values the schema rejects must fail");
    assert!(err.contains("replicaCount"), "{err}");
}

#[test]
fn default_install_rbac_is_exactly_the_kustomize_base() {
    let rendered = toolchain().render(&ci_values("default-values.yaml"));
    let (base, _) = kustomize("deploy");
    let chart_rbac = rbac_summary(&rendered.templates);
    let base_rbac = rbac_summary(&base);
    let only_chart: Vec<_> = chart_rbac.difference(&base_rbac).collect();
    let only_base: Vec<_> = base_rbac.difference(&chart_rbac).collect();
    assert!(
        only_chart.is_empty() && only_base.is_empty(),
        "the chart's default RBAC differs from deploy/rbac.yaml:\nonly in the chart: {only_chart:#?}\nonly in deploy/: {only_base:#?}"
    );
    // Leases only in the operator's namespace, never cluster-wide.
    for role in of_kind(&base, "ClusterRole") {
        assert!(
            !grants(role).iter().any(|(g, ..)| g == "coordination.k8s.io"),
            "leases must be granted by a namespaced Role"
        );
    }
}

#[test]
fn default_install_matches_the_kustomize_base_workload() {
    let rendered = toolchain().render(&ci_values("default-values.yaml"));
    let (base, _) = kustomize("deploy");
    let chart = find(&rendered.templates, "Deployment", "secret-rotator");
    let plain = find(&base, "Deployment", "secret-rotator");
    let pod = |d: &Value| d["spec"]["template"]["spec"].clone();
    let (cp, bp) = (pod(chart), pod(plain));
    assert_eq!(chart["spec"]["replicas"], plain["spec"]["replicas"]);
    assert_eq!(chart["spec"]["replicas"], 2, "two replicas by default, for HA");
    for field in [
        "securityContext",
        "serviceAccountName",
        "automountServiceAccountToken",
        "enableServiceLinks",
        "terminationGracePeriodSeconds",
    ] {
        assert_eq!(cp[field], bp[field], "pod field {field}");
    }
    let (cc, bc) = (&cp["containers"][0], &bp["containers"][0]);
    for field in [
        "args",
        "env",
        "ports",
        "livenessProbe",
        "readinessProbe",
        "resources",
        "securityContext",
        "image",
    ] {
        assert_eq!(cc[field], bc[field], "container field {field}");
    }
    // The restricted Pod Security Standard, which deploy/namespace.yaml enforces.
    let sc = &cc["securityContext"];
    assert_eq!(sc["allowPrivilegeEscalation"], false);
    assert_eq!(sc["readOnlyRootFilesystem"], true);
    assert_eq!(sc["runAsNonRoot"], true);
    assert_eq!(sc["capabilities"]["drop"], serde_json::json!(["ALL"]));
    assert_eq!(sc["seccompProfile"]["type"], "RuntimeDefault");
    assert_eq!(cc["livenessProbe"]["httpGet"]["path"], "/healthz");
    assert_eq!(cc["readinessProbe"]["httpGet"]["path"], "/readyz");
    for (what, r) in [
        ("requests", "cpu"),
        ("requests", "memory"),
        ("limits", "cpu"),
        ("limits", "memory"),
    ] {
        assert!(
            cc["resources"][what][r].is_string(),
            "resources.{what}.{r} is set"
        );
    }
    // Spread: anti-affinity and topology spread keyed on labels the pods carry.
    let pod_labels = &chart["spec"]["template"]["metadata"]["labels"];
    let term = &cp["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"][0]["podAffinityTerm"]
        ["labelSelector"]["matchLabels"];
    for (k, v) in term.as_object().expect("anti-affinity selector") {
        assert_eq!(
            &pod_labels[k], v,
            "anti-affinity selects label {k} the pods carry"
        );
    }
    assert_eq!(cp["topologySpreadConstraints"].as_array().map(Vec::len), Some(2));
    // The PodDisruptionBudget and the Service select the operator's pods.
    for (kind, selector) in [
        ("PodDisruptionBudget", "/spec/selector/matchLabels"),
        ("Service", "/spec/selector"),
    ] {
        for doc in of_kind(&rendered.templates, kind) {
            for (k, v) in doc
                .pointer(selector)
                .and_then(Value::as_object)
                .expect("selector")
            {
                assert_eq!(&pod_labels[k], v, "{kind} selects label {k} the pods carry");
            }
        }
    }
    let pdb = find(&rendered.templates, "PodDisruptionBudget", "secret-rotator");
    assert_eq!(pdb["spec"]["maxUnavailable"], 1);
}

#[test]
fn namespace_scoped_install_grants_namespaced_kinds_only_in_the_watched_namespace() {
    let tools = toolchain();
    let cluster_wide = tools.render(&ci_values("default-values.yaml"));
    let scoped = tools.render(&ci_values("namespace-scoped-values.yaml"));
    let deployment = find(&scoped.templates, "Deployment", "secret-rotator");
    let args = &deployment["spec"]["template"]["spec"]["containers"][0]["args"];
    assert!(
        args.as_array()
            .unwrap()
            .contains(&Value::from("--namespace=team-a")),
        "args {args} lack --namespace=team-a"
    );
    // The ClusterRole keeps only cluster-scoped kinds: cluster providers (watched) and the
    // watched namespace's labels (read, not watched).
    let cluster_role = find(&scoped.templates, "ClusterRole", "secret-rotator");
    let cluster_grants: BTreeSet<String> = grants(cluster_role)
        .into_iter()
        .map(|(_, r, v, _)| format!("{r} {v}"))
        .collect();
    assert_eq!(
        cluster_grants,
        [
            "clusteridentityproviders list",
            "clusteridentityproviders watch",
            "clusteridentityproviders/status patch",
            "namespaces get"
        ]
        .map(String::from)
        .into(),
    );
    // The watched namespace gets the namespaced half of the cluster-wide ClusterRole (plus the
    // OpenShift finalizers grant, which this values file enables).
    let full = grants(find(&cluster_wide.templates, "ClusterRole", "secret-rotator"));
    let mut expected: BTreeSet<_> = full
        .into_iter()
        .filter(|(_, r, ..)| {
            r != "clusteridentityproviders" && r != "clusteridentityproviders/status" && r != "namespaces"
        })
        .collect();
    expected.insert((
        "secret-rotator.dev".into(),
        "clientsecretrotations/finalizers".into(),
        "update".into(),
        String::new(),
    ));
    let roles: Vec<&Value> = of_kind(&scoped.templates, "Role")
        .into_iter()
        .filter(|r| r["metadata"]["name"] == "secret-rotator")
        .collect();
    assert_eq!(roles.len(), 1);
    assert_eq!(roles[0]["metadata"]["namespace"], "team-a");
    assert_eq!(grants(roles[0]), expected);
    let binding = find(&scoped.templates, "RoleBinding", "secret-rotator");
    assert_eq!(binding["metadata"]["namespace"], "team-a");
    assert_eq!(binding["subjects"][0]["namespace"], NAMESPACE);
    // Cluster providers' sign-in Secrets and service accounts are read in the operator's own
    // namespace only.
    let credentials = find(&scoped.templates, "Role", "secret-rotator-provider-credentials");
    assert_eq!(credentials["metadata"]["namespace"], NAMESPACE);
    assert!(grants(credentials).iter().all(
        |(_, r, v, _)| (r == "secrets" && v == "get") || (r == "serviceaccounts/token" && v == "create")
    ));
    // Nothing grants Secrets cluster-wide.
    for role in of_kind(&scoped.templates, "ClusterRole") {
        assert!(
            !grants(role).iter().any(|(_, r, ..)| r == "secrets"),
            "{}",
            manifests::id(role)
        );
    }
}

#[test]
fn workload_identity_annotates_the_service_account_and_labels_the_pod() {
    let tools = toolchain();
    let rendered = tools.render(&ci_values("workload-identity-values.yaml"));
    let sa = find(&rendered.templates, "ServiceAccount", "secret-rotator");
    let annotations = &sa["metadata"]["annotations"];
    assert_eq!(
        annotations["azure.workload.identity/client-id"],
        "11111111-0000-4b60-9390-0ba6fb00bf6b"
    );
    assert_eq!(
        annotations["azure.workload.identity/tenant-id"],
        "72f988bf-0000-41af-91ab-2d7cd011db47"
    );
    assert_eq!(
        annotations["example.com/team"], "platform",
        "user annotations are kept"
    );
    let deployment = find(&rendered.templates, "Deployment", "secret-rotator");
    assert_eq!(
        deployment["spec"]["template"]["metadata"]["labels"]["azure.workload.identity/use"],
        "true"
    );
    assert_eq!(
        deployment["spec"]["template"]["spec"]["serviceAccountName"],
        "secret-rotator"
    );
    // Without workload identity, neither the label nor the annotations appear.
    let plain = tools.render(&ci_values("default-values.yaml"));
    let sa = find(&plain.templates, "ServiceAccount", "secret-rotator");
    assert!(sa["metadata"]["annotations"].is_null());
    let deployment = find(&plain.templates, "Deployment", "secret-rotator");
    assert!(deployment["spec"]["template"]["metadata"]["labels"]["azure.workload.identity/use"].is_null());
    assert!(
        plain.notes.contains("Workload identity is off"),
        "{}",
        plain.notes
    );
}

#[test]
fn values_reach_the_deployment() {
    let rendered = toolchain().render(&ci_values("ha-monitoring-values.yaml"));
    let d = find(&rendered.templates, "Deployment", "secret-rotator");
    let pod = &d["spec"]["template"]["spec"];
    let c = &pod["containers"][0];
    assert_eq!(d["spec"]["replicas"], 3);
    assert_eq!(
        c["image"],
        "ghcr.io/secret-rotator/secret-rotator@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
    );
    let args: Vec<&str> = c["args"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(
        args,
        [
            "run",
            "--log-format=text",
            "--health-address=0.0.0.0:8080",
            "--metrics-address=0.0.0.0:8080",
            "--selector=shard in (a,b)",
            "--example-flag=1"
        ]
    );
    let env = c["env"].as_array().unwrap();
    let var = |n: &str| {
        env.iter()
            .find(|e| e["name"] == n)
            .cloned()
            .unwrap_or(Value::Null)
    };
    assert_eq!(var("RUST_LOG")["value"], "info,secret_rotator=debug");
    assert_eq!(var("EXTRA")["value"], "1");
    assert_eq!(
        var("POD_NAMESPACE")["valueFrom"]["fieldRef"]["fieldPath"],
        "metadata.namespace"
    );
    assert_eq!(c["resources"]["limits"]["memory"], "512Mi");
    assert_eq!(pod["nodeSelector"]["kubernetes.io/os"], "linux");
    assert_eq!(pod["tolerations"][0]["key"], "dedicated");
    assert!(pod["affinity"]["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"].is_array());
    assert_eq!(pod["priorityClassName"], "system-cluster-critical");
    assert_eq!(
        d["spec"]["template"]["metadata"]["annotations"]["example.com/owner"],
        "platform"
    );
    let svc = find(&rendered.templates, "Service", "secret-rotator-metrics");
    assert_eq!(svc["spec"]["ports"][0]["port"], 9090);
    assert_eq!(svc["spec"]["ports"][0]["targetPort"], "http");
}

/// The ServiceMonitor scrapes the metrics Service's port, honouring the metrics' own labels.
#[test]
fn service_monitor_selects_the_metrics_service() {
    let rendered = toolchain().render(&ci_values("ha-monitoring-values.yaml"));
    let svc = find(&rendered.templates, "Service", "secret-rotator-metrics");
    let sm = find(&rendered.templates, "ServiceMonitor", "secret-rotator");
    assert_eq!(sm["apiVersion"], "monitoring.coreos.com/v1");
    assert_eq!(sm["metadata"]["labels"]["release"], "kube-prometheus-stack");
    for (k, v) in sm["spec"]["selector"]["matchLabels"]
        .as_object()
        .expect("matchLabels")
    {
        assert_eq!(
            &svc["metadata"]["labels"][k], v,
            "ServiceMonitor selects label {k}"
        );
    }
    assert_eq!(
        sm["spec"]["namespaceSelector"]["matchNames"],
        serde_json::json!([svc["metadata"]["namespace"]])
    );
    let ports: Vec<&Value> = svc["spec"]["ports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| &p["name"])
        .collect();
    let allowed_spec: BTreeSet<&str> = ["namespaceSelector", "selector", "endpoints", "jobLabel"].into();
    let allowed_endpoint: BTreeSet<&str> = [
        "port",
        "path",
        "interval",
        "scrapeTimeout",
        "honorLabels",
        "relabelings",
        "metricRelabelings",
    ]
    .into();
    for key in sm["spec"].as_object().unwrap().keys() {
        assert!(
            allowed_spec.contains(key.as_str()),
            "unexpected ServiceMonitor field spec.{key}"
        );
    }
    for ep in sm["spec"]["endpoints"].as_array().expect("endpoints") {
        for key in ep.as_object().unwrap().keys() {
            assert!(
                allowed_endpoint.contains(key.as_str()),
                "unexpected endpoint field {key}"
            );
        }
        assert!(
            ports.contains(&&ep["port"]),
            "endpoint port {} is not a Service port",
            ep["port"]
        );
        assert_eq!(ep["path"], "/metrics");
        assert_eq!(
            ep["honorLabels"], true,
            "docs/metrics.md: the namespace label must be honoured"
        );
        assert_eq!(ep["interval"], "15s");
    }
    // The Service forwards to the container port that serves /metrics.
    let d = find(&rendered.templates, "Deployment", "secret-rotator");
    let container_ports = &d["spec"]["template"]["spec"]["containers"][0]["ports"];
    assert!(
        container_ports
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["name"] == svc["spec"]["ports"][0]["targetPort"])
    );
}

/// Anchors (GitHub style) of the `##` headings of a Markdown file.
fn anchors(markdown: &str) -> BTreeSet<String> {
    markdown
        .lines()
        .filter_map(|l| l.strip_prefix("## "))
        .map(|h| {
            h.trim()
                .to_lowercase()
                .chars()
                .filter(|c| c.is_alphanumeric() || *c == '-' || *c == ' ')
                .map(|c| if c == ' ' { '-' } else { c })
                .collect()
        })
        .collect()
}

fn alert_rules(rendered: &Rendered) -> Vec<Value> {
    let rule = find(&rendered.templates, "PrometheusRule", "secret-rotator");
    rule["spec"]["groups"]
        .as_array()
        .expect("groups")
        .iter()
        .flat_map(|g| g["rules"].as_array().cloned().unwrap_or_default())
        .collect()
}

#[test]
fn alerts_are_valid_promql_on_contract_metrics_with_runbooks() {
    let rendered = toolchain().render(&ci_values("ha-monitoring-values.yaml"));
    let contract = metrics_contract::series_names();
    let alerts_doc = read("docs/alerts.md");
    let runbooks = anchors(&alerts_doc);
    let rules = alert_rules(&rendered);
    assert!(
        rules.len() >= 9,
        "expected the full alert set, found {}",
        rules.len()
    );
    let duration = regex::Regex::new(r"^([0-9]+(ms|s|m|h|d|w|y))+$").unwrap();
    let mut used = BTreeSet::new();
    for rule in &rules {
        let name = rule["alert"].as_str().expect("every rule is an alert");
        let expr_text = rule["expr"].as_str().expect("expr");
        let expr = promql::parse(expr_text, name);
        let metrics = promql::metric_names(&expr);
        assert!(!metrics.is_empty(), "{name} reads no metric");
        for metric in &metrics {
            assert!(
                contract.contains(metric) || metrics_contract::PROMETHEUS_BUILTINS.contains(&metric.as_str()),
                "{name} reads {metric}, which docs/metrics.md does not define"
            );
            used.insert(metric.clone());
        }
        // Scoped to this installation's job, so several installations do not mix.
        for (metric, matchers) in promql::selectors_of(&expr) {
            assert!(
                matchers.contains(&("job".to_owned(), "secret-rotator-metrics".to_owned())),
                "{name}: selector of {metric:?} is not scoped to job=\"secret-rotator-metrics\""
            );
        }
        assert!(
            duration.is_match(rule["for"].as_str().unwrap_or_default()),
            "{name}: for"
        );
        let severity = rule["labels"]["severity"].as_str().unwrap_or_default();
        assert!(
            ["critical", "warning", "info"].contains(&severity),
            "{name}: severity {severity:?}"
        );
        assert_eq!(
            rule["labels"]["team"], "platform",
            "{name}: additionalAlertLabels"
        );
        for annotation in ["summary", "description", "runbook_url"] {
            assert!(
                rule["annotations"][annotation]
                    .as_str()
                    .is_some_and(|s| !s.is_empty()),
                "{name}: annotation {annotation}"
            );
        }
        let description = rule["annotations"]["description"].as_str().unwrap();
        assert_eq!(
            description.matches("{{").count(),
            description.matches("}}").count(),
            "{name}: unbalanced Prometheus template in {description:?}"
        );
        let url = rule["annotations"]["runbook_url"].as_str().unwrap();
        let (base, anchor) = url.split_once('#').expect("runbook_url has an anchor");
        assert!(base.ends_with("docs/alerts.md"), "{name}: runbook {url}");
        assert_eq!(anchor, name.to_lowercase(), "{name}: runbook anchor");
        assert!(
            runbooks.contains(anchor),
            "docs/alerts.md has no section `## {name}`"
        );
    }
    // The disabled alert is gone; every other alert has a runbook and vice versa.
    let names: BTreeSet<String> = rules
        .iter()
        .map(|r| r["alert"].as_str().unwrap().to_lowercase())
        .collect();
    assert!(
        !names.contains("secretrotatorgraphthrottled"),
        "disabledAlerts is honoured"
    );
    let documented: BTreeSet<String> = runbooks
        .iter()
        .filter(|a| a.starts_with("secretrotator"))
        .cloned()
        .collect();
    let mut expected = names.clone();
    expected.insert("secretrotatorgraphthrottled".into());
    assert_eq!(
        documented, expected,
        "docs/alerts.md sections and the chart's alerts differ"
    );
    // The alerts cover the failure modes the operator promises to surface.
    for metric in [
        "secret_rotator_secret_expiration_timestamp_seconds",
        "secret_rotator_secret_renewal_timestamp_seconds",
        "secret_rotator_rotation_failures_total",
        "secret_rotator_rollout_stuck",
        "secret_rotator_leader",
        "up",
    ] {
        assert!(used.contains(metric), "no alert reads {metric}");
    }
}

#[test]
fn dashboard_config_map_carries_the_dashboard_for_the_grafana_sidecar() {
    let rendered = toolchain().render(&ci_values("ha-monitoring-values.yaml"));
    let cm = find(&rendered.templates, "ConfigMap", "secret-rotator-dashboard");
    assert_eq!(cm["metadata"]["labels"]["grafana_dashboard"], "1");
    assert_eq!(cm["metadata"]["annotations"]["grafana_folder"], "Operators");
    let shipped: Value =
        serde_json::from_str(cm["data"]["secret-rotator.json"].as_str().expect("dashboard key"))
            .expect("the dashboard in the ConfigMap is JSON");
    let source: Value =
        serde_json::from_str(&read("charts/secret-rotator/dashboards/secret-rotator.json")).unwrap();
    assert_eq!(shipped, source);
    // Off by default, like the other monitoring objects.
    let plain = toolchain().render(&ci_values("default-values.yaml"));
    for kind in ["ConfigMap", "ServiceMonitor", "PrometheusRule"] {
        assert!(
            of_kind(&plain.templates, kind).is_empty(),
            "{kind} rendered by default"
        );
    }
}

/// Applies `yaml` with kubectl and returns kubectl's report.
fn apply(k: &Kubectl, yaml: &str) -> String {
    k.ok(&["apply", "-f", "-"], Some(yaml))
}

/// Documents as one YAML stream (JSON documents are YAML).
fn as_stream<'a>(docs: impl IntoIterator<Item = &'a Value>) -> String {
    docs.into_iter().map(|d| format!("---\n{d}\n")).collect()
}

/// Applies every manifest twice and checks the second pass changes nothing (no drift between
/// what the manifests say and what the server keeps, which GitOps tools would fight over). Every
/// kind must be served by the sandbox API server.
fn apply_twice(server: &ApiServer, k: &Kubectl, docs: &[Value], context: &str) {
    for doc in docs {
        let api_version = doc["apiVersion"].as_str().unwrap_or_default();
        let kind = doc["kind"].as_str().unwrap_or_default();
        assert!(
            server.resource_for_kind(api_version, kind).is_some(),
            "{context}: the sandbox API server does not serve {api_version} {kind}"
        );
    }
    let stream = as_stream(docs);
    let first = apply(k, &stream);
    assert_eq!(
        first.lines().count(),
        docs.len(),
        "{context}: kubectl reported {first}"
    );
    let second = apply(k, &stream);
    for line in second.lines() {
        // NB: kubectl's client-side apply always re-sends a PodDisruptionBudget's selector (its
        // `patchStrategy: replace`) and reports "configured", against any API server; the object
        // is unchanged (the next check).
        assert!(
            line.ends_with(" unchanged") || line.starts_with("poddisruptionbudget.policy/"),
            "{context}: re-applying changed something: {line}\n{second}"
        );
    }
    let third = k.ok(&["diff", "-f", "-"], Some(&stream));
    assert!(
        third.trim().is_empty(),
        "{context}: kubectl diff after apply: {third}"
    );
}

fn with_kubectl(test: impl FnOnce(&ApiServer, &Kubectl) + Send + 'static) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let server = ApiServer::new();
        // NB: client-go sends credentials only over TLS, so kubectl talks HTTPS with the admin token.
        let handle = server.serve_tls("127.0.0.1:0").await.unwrap();
        let dir = tempfile::tempdir().unwrap();
        let k = kubectl::for_kubeconfig(&handle.kubeconfig(ADMIN_TOKEN), dir.path());
        let s = server.clone();
        tokio::task::spawn_blocking(move || test(&s, &k)).await.unwrap();
        handle.shutdown().await;
        drop(dir);
    });
}

/// Creates a namespace. NB: with a manifest, not `kubectl create namespace`, which sends protobuf
/// (the sandbox API server speaks JSON only).
fn create_namespace(k: &Kubectl, name: &str) {
    apply(
        k,
        &format!("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {name}\n"),
    );
}

fn wait_established(k: &Kubectl, crds: &[Value]) {
    for crd in crds {
        let name = format!("crd/{}", crd["metadata"]["name"].as_str().unwrap());
        k.ok(
            &["wait", "--for=condition=Established", &name, "--timeout=60s"],
            None,
        );
    }
}

#[test]
fn rendered_chart_applies_cleanly_to_the_api_server() {
    let tools = toolchain();
    let monitoring_crds = manifests::parse_stream(
        &read("tests/packaging_support/fixtures/monitoring-crds.yaml"),
        "monitoring CRDs",
    );
    // Each values file is a fresh install on a fresh server (upgrades between values files are
    // not what this test is about).
    for file in [
        "ha-monitoring-values.yaml",
        "namespace-scoped-values.yaml",
        "workload-identity-values.yaml",
    ] {
        let rendered = tools.render(&ci_values(file));
        let monitoring_crds = monitoring_crds.clone();
        with_kubectl(move |server, k| {
            // A cluster with prometheus-operator's CRDs.
            apply(k, &as_stream(&monitoring_crds));
            wait_established(k, &monitoring_crds);
            // As `helm install --create-namespace`: the release namespace, and the watched ones.
            for ns in [NAMESPACE, "team-a"] {
                create_namespace(k, ns);
            }
            // Helm installs crds/ first and waits for them; then the templates.
            apply_twice(server, k, &rendered.crds, file);
            wait_established(k, &rendered.crds);
            apply_twice(server, k, &rendered.templates, file);
            let names = k.ok(
                &["get", "roles,rolebindings", "-n", NAMESPACE, "-o", "name"],
                None,
            );
            assert!(
                names.contains("role.rbac.authorization.k8s.io/secret-rotator-leader-election"),
                "{names}"
            );
            let crds = k.ok(&["get", "crd", "-o", "name"], None);
            for crd in [
                "clientsecretrotations",
                "clusteridentityproviders",
                "identityproviders",
            ] {
                assert!(crds.contains(&format!("{crd}.{}", wellknown::GROUP)), "{crds}");
            }
            let replicas = k.ok(
                &[
                    "get",
                    "deployment",
                    "-n",
                    NAMESPACE,
                    "secret-rotator",
                    "-o",
                    "jsonpath={.spec.replicas}",
                ],
                None,
            );
            assert_eq!(
                replicas,
                find(&rendered.templates, "Deployment", "secret-rotator")["spec"]["replicas"].to_string()
            );
            if file == "ha-monitoring-values.yaml" {
                let groups = k.ok(
                    &[
                        "get",
                        "prometheusrule",
                        "-n",
                        NAMESPACE,
                        "secret-rotator",
                        "-o",
                        "jsonpath={.spec.groups[*].name}",
                    ],
                    None,
                );
                assert_eq!(
                    groups,
                    "secret-rotator.secrets secret-rotator.rotations secret-rotator.operator"
                );
            }
        });
    }
}

#[test]
fn kustomize_base_and_examples_apply_cleanly_to_the_api_server() {
    let (base, _) = kustomize("deploy");
    let examples: Vec<Value> = [
        "deploy/examples/cluster-identity-provider-workload-identity.yaml",
        "deploy/examples/identity-provider-client-secret.yaml",
        "deploy/examples/client-secret-rotation.yaml",
    ]
    .iter()
    .flat_map(|f| manifests::parse_stream(&read(f), f))
    .collect();
    with_kubectl(move |server, k| {
        let crds: Vec<Value> = of_kind(&base, "CustomResourceDefinition")
            .into_iter()
            .cloned()
            .collect();
        let (namespace_and_crds, rest): (Vec<Value>, Vec<Value>) = base
            .iter()
            .cloned()
            .partition(|d| d["kind"] == "CustomResourceDefinition" || d["kind"] == "Namespace");
        apply_twice(server, k, &namespace_and_crds, "deploy/ namespace and CRDs");
        wait_established(k, &crds);
        apply_twice(server, k, &rest, "deploy/");
        let deployment = k.ok(
            &[
                "get",
                "deployment",
                "-n",
                NAMESPACE,
                "secret-rotator",
                "-o",
                "jsonpath={.spec.replicas}",
            ],
            None,
        );
        assert_eq!(deployment, "2");
        // The examples' namespaces, then the examples themselves: the CRDs' schemas and rules
        // accept them.
        for ns in examples
            .iter()
            .filter_map(|d| d["metadata"]["namespace"].as_str())
            .collect::<BTreeSet<_>>()
        {
            create_namespace(k, ns);
        }
        apply_twice(server, k, &examples, "deploy/examples");
        let listing = k.ok(&["get", "csrot", "-A"], None);
        assert!(listing.contains("my-app"), "{listing}");
    });
}
