//! The Kubernetes install (`deploy/`) and the images (`docker/`), as an operator relies on them:
//! each overlay renders with `kubectl kustomize`, every rendered object validates against the
//! Kubernetes schemas (`kubernetes-validate --strict`; the ServiceMonitor, a CRD it has no schema
//! for, is checked here by structure), and the invariants hold: probes and drain on the servers,
//! non-root pods, a disruption budget and an HPA on the servers, Redis fsyncing every write, TLS and
//! hour-long websockets at the Ingress, the Role granting exactly what `adapters/kubernetes` calls,
//! and a server config that loads and names agent Deployments that exist. The tools come from
//! `scripts/ensure-deploy-tools.sh`; a missing one fails here, naming it.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::Value;
use shotfarm::Config;

const ENSURE: &str = "scripts/ensure-deploy-tools.sh";
/// The Kubernetes version whose schemas the render must satisfy.
const KUBERNETES: &str = "1.34.0";
pub(crate) const OVERLAYS: [&str; 2] = ["gke", "eks"];
/// What `shotfarm serve` gives requests in flight after SIGTERM (web/src/server.rs).
const SHUTDOWN_TIMEOUT_S: i64 = 5;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn venv_bin(name: &str) -> PathBuf {
    let bin = root().join(".venv-deploy/bin").join(name);
    assert!(
        bin.exists(),
        "{} is missing: run {ENSURE} (scripts/test.sh does)",
        bin.display()
    );
    bin
}

fn run(mut command: Command, input: Option<&str>, what: &str) -> String {
    use std::io::Write as _;
    command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {what} ({e}): run {ENSURE} (scripts/test.sh does)"));
    let mut stdin = child.stdin.take().expect("stdin");
    if let Some(input) = input {
        stdin.write_all(input.as_bytes()).expect("write stdin");
    }
    drop(stdin);
    let out = child.wait_with_output().expect("wait");
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 output")
}

/// `kubectl kustomize deploy/overlays/<overlay>` as YAML.
fn render_yaml(overlay: &str) -> String {
    let mut kubectl = Command::new("kubectl");
    kubectl
        .arg("kustomize")
        .arg(root().join("deploy/overlays").join(overlay));
    run(kubectl, None, &format!("kubectl kustomize ({overlay})"))
}

/// YAML documents as JSON values, through the PyYAML that kubernetes-validate brings.
fn parse_yaml(yaml: &str) -> Vec<Value> {
    let mut python = Command::new(venv_bin("python"));
    python.args([
        "-c",
        "import json, sys, yaml; json.dump([d for d in yaml.safe_load_all(sys.stdin) if d], sys.stdout)",
    ]);
    serde_json::from_str(&run(python, Some(yaml), "PyYAML")).expect("JSON from PyYAML")
}

/// An overlay's rendered objects.
pub(crate) fn render(overlay: &str) -> Vec<Value> {
    parse_yaml(&render_yaml(overlay))
}

fn find<'a>(objects: &'a [Value], kind: &str, name: &str) -> &'a Value {
    objects
        .iter()
        .find(|o| o["kind"] == kind && o["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind} {name} in the render"))
}

fn of_kind<'a>(objects: &'a [Value], kind: &'a str) -> impl Iterator<Item = &'a Value> + 'a {
    objects.iter().filter(move |o| o["kind"] == kind)
}

fn str_list(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// The agent Deployments: those whose container runs `shotfarm agent`.
pub(crate) fn agent_deployments(objects: &[Value]) -> Vec<&Value> {
    of_kind(objects, "Deployment")
        .filter(|d| {
            d["spec"]["template"]["spec"]["containers"]
                .as_array()
                .is_some_and(|cs| cs.iter().any(|c| c["args"][0] == "agent"))
        })
        .collect()
}

/// Whether `selector` (matchLabels) selects a pod with `labels`.
fn selects(selector: &Value, labels: &Value) -> bool {
    let wanted = selector["matchLabels"].as_object().expect("matchLabels");
    !wanted.is_empty() && wanted.iter().all(|(k, v)| &labels[k] == v)
}

fn server_toml(objects: &[Value]) -> String {
    let config = of_kind(objects, "ConfigMap")
        .find(|c| {
            c["metadata"]["name"]
                .as_str()
                .is_some_and(|n| n.starts_with("shotfarm-config"))
        })
        .expect("the generated ConfigMap shotfarm-config-<hash>");
    config["data"]["shotfarm.toml"]
        .as_str()
        .expect("shotfarm.toml in the ConfigMap")
        .to_owned()
}

fn load_config(toml: &str, env: Vec<(String, String)>, tag: &str) -> Config {
    let path =
        std::env::temp_dir().join(format!("shotfarm-deploy-{}-{tag}.toml", std::process::id()));
    std::fs::write(&path, toml).expect("write config");
    let loaded = Config::load(Some(&path), env);
    let _ = std::fs::remove_file(&path);
    loaded.unwrap_or_else(|e| panic!("the rendered shotfarm.toml does not load ({tag}): {e}"))
}

#[test]
fn every_overlay_renders_and_validates_against_the_kubernetes_schemas() {
    let validate = venv_bin("kubernetes-validate");
    for overlay in OVERLAYS {
        let yaml = render_yaml(overlay);
        let path = std::env::temp_dir().join(format!(
            "shotfarm-deploy-{}-{overlay}.yaml",
            std::process::id()
        ));
        std::fs::write(&path, &yaml).expect("write render");
        let mut command = Command::new(&validate);
        command
            .args(["--strict", "--quiet", "-k", KUBERNETES])
            .arg(&path);
        let report = run(command, None, &format!("kubernetes-validate ({overlay})"));
        let _ = std::fs::remove_file(&path);
        let objects = parse_yaml(&yaml);
        // The validator skips kinds it has no schema for, with a warning: only the Prometheus
        // Operator's two CRDs, checked by structure below.
        let skipped: Vec<&str> = report
            .lines()
            .filter(|l| l.contains("Couldn't find schema"))
            .collect();
        assert!(
            skipped.len() == 2
                && skipped.iter().any(|l| l.contains("kind ServiceMonitor"))
                && skipped.iter().any(|l| l.contains("kind PrometheusRule")),
            "{overlay}: only the ServiceMonitor and PrometheusRule may go unvalidated: {report}"
        );
        assert!(objects.len() >= 15, "{overlay}: {} objects", objects.len());
        for o in &objects {
            if o["kind"] != "Namespace" {
                assert_eq!(
                    o["metadata"]["namespace"], "render",
                    "{overlay}: {} {}",
                    o["kind"], o["metadata"]["name"]
                );
            }
        }

        // The ServiceMonitor, by structure: it scrapes /metrics on a port of the servers' Service.
        let monitor = find(&objects, "ServiceMonitor", "shotfarm-server");
        assert_eq!(monitor["apiVersion"], "monitoring.coreos.com/v1");
        let service = find(&objects, "Service", "shotfarm");
        assert!(
            selects(&monitor["spec"]["selector"], &service["metadata"]["labels"]),
            "{overlay}: the ServiceMonitor selects the servers' Service"
        );
        // The PrometheusRule carries exactly deploy/monitoring/alerts.yml's groups (the rules
        // promtool tests), not a stale copy.
        let rule = find(&objects, "PrometheusRule", "shotfarm");
        assert_eq!(rule["apiVersion"], "monitoring.coreos.com/v1");
        let alerts = std::fs::read_to_string(root().join("deploy/monitoring/alerts.yml"))
            .expect("alerts.yml");
        let alerts = parse_yaml(&alerts);
        assert_eq!(
            rule["spec"]["groups"], alerts[0]["groups"],
            "{overlay}: deploy/base/prometheusrule.yaml differs from alerts.yml: run \
             deploy/monitoring/sync-prometheus-rule.sh"
        );
        let endpoint = &monitor["spec"]["endpoints"][0];
        assert_eq!(endpoint["path"], "/metrics");
        let ports = service["spec"]["ports"].as_array().expect("ports");
        assert!(
            ports.iter().any(|p| p["name"] == endpoint["port"]),
            "{overlay}: the ServiceMonitor scrapes a port the Service has"
        );
    }
}

#[test]
fn the_secrets_template_validates_and_holds_every_secret_a_pod_reads() {
    let template = root().join("deploy/secrets.template.yaml");
    let mut command = Command::new(venv_bin("kubernetes-validate"));
    command
        .args(["--strict", "--quiet", "-k", KUBERNETES])
        .arg(&template);
    run(command, None, "kubernetes-validate (secrets template)");
    let text = std::fs::read_to_string(&template).expect("read template");
    let secrets = parse_yaml(&text);
    let has = |name: &str, key: &str| {
        secrets.iter().any(|s| {
            s["kind"] == "Secret"
                && s["metadata"]["name"] == name
                && s["stringData"][key].as_str().is_some()
        })
    };
    for s in &secrets {
        for (key, value) in s["stringData"].as_object().expect("stringData") {
            assert!(
                value.as_str().is_some_and(|v| v.starts_with("REPLACE")),
                "{}/{key} must be a placeholder, never a real secret",
                s["metadata"]["name"]
            );
        }
    }
    for overlay in OVERLAYS {
        let objects = render(overlay);
        assert!(
            of_kind(&objects, "Secret").next().is_none(),
            "{overlay}: Secrets stay out of the kustomizations (apply -k would overwrite real ones)"
        );
        let mut read = 0;
        for workload in of_kind(&objects, "Deployment").chain(of_kind(&objects, "StatefulSet")) {
            let pod = &workload["spec"]["template"]["spec"];
            for v in pod["volumes"].as_array().into_iter().flatten() {
                if let Some(name) = v["secret"]["secretName"].as_str() {
                    for item in v["secret"]["items"].as_array().expect("items") {
                        let key = item["key"].as_str().expect("key");
                        assert!(has(name, key), "{overlay}: no secret {name}/{key}");
                        read += 1;
                    }
                }
                if let Some(name) = v["configMap"]["name"].as_str() {
                    find(&objects, "ConfigMap", name);
                }
            }
            for c in pod["containers"].as_array().expect("containers") {
                for e in c["env"].as_array().into_iter().flatten() {
                    let r = &e["valueFrom"]["secretKeyRef"];
                    if let (Some(name), Some(key)) = (r["name"].as_str(), r["key"].as_str()) {
                        assert!(has(name, key), "{overlay}: no secret {name}/{key}");
                        read += 1;
                    }
                }
            }
        }
        assert_eq!(
            read, 4,
            "{overlay}: two server keys and two enrollment tokens"
        );
    }
}

#[test]
fn the_api_servers_are_probed_drained_and_configured_from_secrets() {
    for overlay in OVERLAYS {
        let objects = render(overlay);
        let server = find(&objects, "Deployment", "shotfarm-server");
        assert!(server["spec"]["replicas"].as_i64().expect("replicas") >= 2);
        let pod = &server["spec"]["template"]["spec"];
        let c = &pod["containers"][0];
        assert_eq!(c["args"][0], "serve");
        let port = c["ports"][0]["name"].clone();
        assert_eq!(c["readinessProbe"]["httpGet"]["path"], "/readyz");
        assert_eq!(c["readinessProbe"]["httpGet"]["port"], port);
        assert_eq!(c["livenessProbe"]["httpGet"]["path"], "/healthz");
        assert_eq!(c["livenessProbe"]["httpGet"]["port"], port);
        // Drain: out of the endpoints first (preStop), then actix's graceful stop, within the grace.
        let pre_stop = str_list(&c["lifecycle"]["preStop"]["exec"]["command"]);
        assert_eq!(pre_stop.first().map(String::as_str), Some("/bin/sleep"));
        let sleep: i64 = pre_stop[1].parse().expect("seconds");
        assert!(sleep >= 5, "preStop waits for the endpoints to update");
        let grace = pod["terminationGracePeriodSeconds"]
            .as_i64()
            .expect("grace");
        assert!(
            grace > sleep + SHUTDOWN_TIMEOUT_S,
            "{overlay}: grace {grace}s must cover preStop {sleep}s + shutdown {SHUTDOWN_TIMEOUT_S}s"
        );
        let env: BTreeSet<(String, String, String)> = c["env"]
            .as_array()
            .expect("env")
            .iter()
            .map(|e| {
                let r = &e["valueFrom"]["secretKeyRef"];
                (
                    e["name"].as_str().unwrap_or_default().to_owned(),
                    r["name"].as_str().unwrap_or_default().to_owned(),
                    r["key"].as_str().unwrap_or_default().to_owned(),
                )
            })
            .collect();
        for (var, key) in [
            ("SHOTFARM_AUTH__SECRET", "auth-secret"),
            ("SHOTFARM_SECURITY__MASTER_KEY", "master-key"),
        ] {
            assert!(
                env.contains(&(var.into(), "shotfarm-server".into(), key.into())),
                "{overlay}: {var} from the Secret shotfarm-server: {env:?}"
            );
        }
        let service = find(&objects, "Service", "shotfarm");
        assert!(selects(
            &json_selector(&service["spec"]["selector"]),
            &server["spec"]["template"]["metadata"]["labels"]
        ));
        assert_eq!(service["spec"]["ports"][0]["targetPort"], port);
    }
}

/// A Service's plain selector as a matchLabels selector.
fn json_selector(selector: &Value) -> Value {
    serde_json::json!({ "matchLabels": selector })
}

#[test]
fn every_pod_runs_as_a_non_root_user() {
    for overlay in OVERLAYS {
        let objects = render(overlay);
        let mut pods = 0;
        for workload in of_kind(&objects, "Deployment").chain(of_kind(&objects, "StatefulSet")) {
            let name = &workload["metadata"]["name"];
            let pod = &workload["spec"]["template"]["spec"];
            assert_eq!(
                pod["securityContext"]["runAsNonRoot"], true,
                "{overlay}: {name}"
            );
            assert!(
                pod["securityContext"]["runAsUser"]
                    .as_i64()
                    .is_some_and(|u| u > 0),
                "{overlay}: {name} runs as a numeric non-root user"
            );
            for c in pod["containers"].as_array().expect("containers") {
                let sc = &c["securityContext"];
                assert_eq!(sc["allowPrivilegeEscalation"], false, "{overlay}: {name}");
                assert_ne!(sc["privileged"], true, "{overlay}: {name}");
                assert!(
                    sc["runAsUser"].as_i64().is_none_or(|u| u > 0),
                    "{overlay}: {name}"
                );
            }
            pods += 1;
        }
        assert_eq!(
            pods, 4,
            "{overlay}: server, Redis and two agent Deployments"
        );
    }
}

#[test]
fn the_disruption_budget_and_the_hpa_hold_the_api_servers() {
    for overlay in OVERLAYS {
        let objects = render(overlay);
        let server = find(&objects, "Deployment", "shotfarm-server");
        let replicas = server["spec"]["replicas"].as_i64().expect("replicas");
        let pdb = find(&objects, "PodDisruptionBudget", "shotfarm-server");
        for workload in of_kind(&objects, "Deployment").chain(of_kind(&objects, "StatefulSet")) {
            let labels = &workload["spec"]["template"]["metadata"]["labels"];
            assert_eq!(
                selects(&pdb["spec"]["selector"], labels),
                workload["metadata"]["name"] == "shotfarm-server",
                "{overlay}: the PDB selects the server pods and nothing else ({})",
                workload["metadata"]["name"]
            );
        }
        let min = pdb["spec"]["minAvailable"].as_i64().expect("minAvailable");
        assert!(
            min >= 1 && min < replicas,
            "{overlay}: one serves, one may go"
        );
        let hpa = find(&objects, "HorizontalPodAutoscaler", "shotfarm-server");
        assert_eq!(hpa["apiVersion"], "autoscaling/v2");
        let target = &hpa["spec"]["scaleTargetRef"];
        assert_eq!(target["kind"], "Deployment");
        assert_eq!(target["apiVersion"], "apps/v1");
        assert_eq!(target["name"], "shotfarm-server");
        assert!(hpa["spec"]["minReplicas"].as_i64().expect("minReplicas") >= 2);
        assert!(hpa["spec"]["maxReplicas"].as_i64() > hpa["spec"]["minReplicas"].as_i64());
    }
}

#[test]
fn redis_fsyncs_every_write_to_a_volume_and_the_servers_use_it() {
    for overlay in OVERLAYS {
        let objects = render(overlay);
        let redis = find(&objects, "StatefulSet", "shotfarm-redis");
        let c = &redis["spec"]["template"]["spec"]["containers"][0];
        let args = str_list(&c["args"]);
        let flag = |name: &str| {
            args.iter()
                .position(|a| a == name)
                .and_then(|i| args.get(i + 1))
                .map(String::as_str)
        };
        assert_eq!(flag("--appendonly"), Some("yes"), "{overlay}: {args:?}");
        assert_eq!(flag("--appendfsync"), Some("always"), "{overlay}: {args:?}");
        let dir = flag("--dir").expect("--dir");
        let claim = redis["spec"]["volumeClaimTemplates"][0]["metadata"]["name"].clone();
        assert!(
            c["volumeMounts"]
                .as_array()
                .expect("mounts")
                .iter()
                .any(|m| m["name"] == claim && m["mountPath"] == dir),
            "{overlay}: the append-only file is on the PVC"
        );
        let service = find(&objects, "Service", "shotfarm-redis");
        let config = load_config(&server_toml(&objects), Vec::new(), overlay);
        let url = config.farm.store.url.expect("store.url");
        let port = service["spec"]["ports"][0]["port"].as_i64().expect("port");
        assert_eq!(url, format!("redis://shotfarm-redis:{port}/"), "{overlay}");
    }
}

#[test]
fn the_ingress_terminates_tls_and_keeps_websockets_open_for_agents() {
    for overlay in OVERLAYS {
        let objects = render(overlay);
        let ingress = find(&objects, "Ingress", "shotfarm");
        let annotations = &ingress["metadata"]["annotations"];
        for key in ["proxy-read-timeout", "proxy-send-timeout"] {
            let seconds: u64 = annotations[format!("nginx.ingress.kubernetes.io/{key}")]
                .as_str()
                .and_then(|s| s.parse().ok())
                .unwrap_or_else(|| panic!("{overlay}: {key}"));
            assert!(seconds >= 3600, "{overlay}: {key} {seconds}");
        }
        let tls_hosts = str_list(&ingress["spec"]["tls"][0]["hosts"]);
        assert!(ingress["spec"]["tls"][0]["secretName"].is_string());
        let rule = &ingress["spec"]["rules"][0];
        let host = rule["host"].as_str().expect("host");
        assert!(
            tls_hosts.iter().any(|h| h == host),
            "{overlay}: TLS for {host}"
        );
        let paths = rule["http"]["paths"].as_array().expect("paths");
        for wanted in ["/", "/api/v1/agents"] {
            let path = paths
                .iter()
                .find(|p| p["path"] == wanted)
                .unwrap_or_else(|| panic!("{overlay}: no path {wanted}"));
            assert_eq!(path["backend"]["service"]["name"], "shotfarm");
        }
        for agent in agent_deployments(&objects) {
            let args = str_list(&agent["spec"]["template"]["spec"]["containers"][0]["args"]);
            let server = &args[args.iter().position(|a| a == "--server").expect("--server") + 1];
            assert_eq!(
                server,
                &format!("https://{host}"),
                "{overlay}: agents reach the server through the Ingress, over TLS"
            );
        }
    }
}

#[test]
fn the_role_grants_what_the_kubernetes_provider_calls_to_the_servers_account() {
    let expected: BTreeSet<(&str, &str, &str)> = [
        ("apps", "deployments", "get"),
        ("apps", "statefulsets", "get"),
        ("apps", "deployments/scale", "get"),
        ("apps", "deployments/scale", "patch"),
        ("apps", "statefulsets/scale", "get"),
        ("apps", "statefulsets/scale", "patch"),
        ("", "pods", "patch"),
        ("", "pods", "delete"),
    ]
    .into_iter()
    .collect();
    for overlay in OVERLAYS {
        let objects = render(overlay);
        assert_eq!(of_kind(&objects, "Role").count(), 1);
        assert_eq!(of_kind(&objects, "ClusterRole").count(), 0);
        let role = find(&objects, "Role", "shotfarm-autoscaler");
        let mut granted = BTreeSet::new();
        for rule in role["rules"].as_array().expect("rules") {
            assert!(rule["resourceNames"].is_null() && rule["nonResourceURLs"].is_null());
            for g in str_list(&rule["apiGroups"]) {
                for r in str_list(&rule["resources"]) {
                    for v in str_list(&rule["verbs"]) {
                        granted.insert((g.clone(), r.clone(), v));
                    }
                }
            }
        }
        let granted: BTreeSet<(&str, &str, &str)> = granted
            .iter()
            .map(|(g, r, v)| (g.as_str(), r.as_str(), v.as_str()))
            .collect();
        assert_eq!(granted, expected, "{overlay}: the Role's grants");
        let binding = find(&objects, "RoleBinding", "shotfarm-autoscaler");
        assert_eq!(binding["roleRef"]["kind"], "Role");
        assert_eq!(binding["roleRef"]["name"], "shotfarm-autoscaler");
        let subject = &binding["subjects"][0];
        assert_eq!(subject["kind"], "ServiceAccount");
        assert_eq!(subject["namespace"], "render");
        let account = subject["name"].as_str().expect("subject");
        find(&objects, "ServiceAccount", account);
        let server = find(&objects, "Deployment", "shotfarm-server");
        assert_eq!(
            server["spec"]["template"]["spec"]["serviceAccountName"],
            account
        );
        for agent in agent_deployments(&objects) {
            let pod = &agent["spec"]["template"]["spec"];
            assert_eq!(pod["automountServiceAccountToken"], false);
            assert!(pod["serviceAccountName"].is_null());
        }
    }
}

#[test]
fn the_server_config_loads_and_scales_agent_deployments_that_exist() {
    for overlay in OVERLAYS {
        let objects = render(overlay);
        let toml = server_toml(&objects);
        // As the servers load it (the Secret's keys in the environment) and as the agents do.
        let secrets = vec![
            ("SHOTFARM_AUTH__SECRET".to_owned(), "s".repeat(64)),
            ("SHOTFARM_SECURITY__MASTER_KEY".to_owned(), "ab".repeat(32)),
        ];
        let server = load_config(&toml, secrets, overlay);
        load_config(&toml, Vec::new(), overlay);
        let farm = &server.farm;
        assert!(
            farm.node_groups.is_empty(),
            "the servers run no local nodes"
        );
        assert!((farm.timing.time_factor - 1.0).abs() < f64::EPSILON);
        let autoscaler = &farm.autoscaler;
        assert!(autoscaler.enabled);
        assert_eq!(
            serde_json::to_value(autoscaler.provider).expect("provider"),
            "kubernetes"
        );
        let kubernetes = &autoscaler.kubernetes;
        assert!(kubernetes.api_url.is_empty(), "in-cluster config");
        assert!(kubernetes.namespace.is_empty() || kubernetes.namespace == "render");
        let agents: BTreeSet<String> = agent_deployments(&objects)
            .iter()
            .map(|d| {
                format!(
                    "deployments/{}",
                    d["metadata"]["name"].as_str().expect("name")
                )
            })
            .collect();
        let mut named = BTreeSet::new();
        for (pool, workloads) in &kubernetes.workloads {
            assert!(
                autoscaler.pools.contains_key(pool),
                "{overlay}: pool {pool}"
            );
            for w in [&workloads.spot, &workloads.on_demand] {
                assert!(
                    agents.contains(w.as_str()),
                    "{overlay}: [autoscaler.kubernetes.workloads.{pool}] names {w}, not an agent \
                     Deployment of the render ({agents:?})"
                );
                named.insert(w.clone());
            }
        }
        assert_eq!(named, agents, "{overlay}: every agent Deployment is scaled");
        let spot = find(&objects, "Deployment", "agent-video-spot");
        assert!(
            str_list(&spot["spec"]["template"]["spec"]["containers"][0]["args"])
                .contains(&"--spot".to_owned())
        );
    }
}

#[test]
fn each_overlay_places_agents_on_its_clouds_spot_and_on_demand_gpus() {
    for (overlay, cloud, spot_labels, on_demand_labels) in [
        (
            "gke",
            "gcp",
            &[("cloud.google.com/gke-spot", "true")][..],
            &[("cloud.google.com/gke-provisioning", "standard")][..],
        ),
        (
            "eks",
            "aws",
            &[("eks.amazonaws.com/capacityType", "SPOT")][..],
            &[("eks.amazonaws.com/capacityType", "ON_DEMAND")][..],
        ),
    ] {
        let objects = render(overlay);
        for (name, labels, spot) in [
            ("agent-video-spot", spot_labels, true),
            ("agent-video-on-demand", on_demand_labels, false),
        ] {
            let pod = &find(&objects, "Deployment", name)["spec"]["template"]["spec"];
            let selector = &pod["nodeSelector"];
            for (k, v) in labels {
                assert_eq!(selector[*k], *v, "{overlay}: {name}");
            }
            let gpu_label = if cloud == "gcp" {
                "cloud.google.com/gke-accelerator"
            } else {
                "node.kubernetes.io/instance-type"
            };
            assert!(selector[gpu_label].is_string(), "{overlay}: {name}");
            let args = str_list(&pod["containers"][0]["args"]);
            let metadata = args
                .iter()
                .position(|a| a == "--metadata")
                .and_then(|i| args.get(i + 1));
            assert_eq!(
                args.contains(&"--spot".to_owned()),
                spot,
                "{overlay}: {name}"
            );
            assert_eq!(
                metadata.map(String::as_str),
                spot.then_some(cloud),
                "{overlay}: {name} watches its cloud's notices when spot"
            );
            assert_eq!(
                pod["containers"][0]["resources"]["limits"]["nvidia.com/gpu"],
                1
            );
        }
        if cloud == "gcp" {
            let pod = &find(&objects, "Deployment", "agent-video-spot")["spec"]["template"]["spec"];
            assert!(
                pod["tolerations"]
                    .as_array()
                    .expect("tolerations")
                    .iter()
                    .any(|t| t["key"] == "cloud.google.com/gke-spot"),
                "gke: spot agents tolerate the Spot taint"
            );
        }
    }
}

/// The final stage of a Dockerfile: its lines after the last FROM.
fn final_stage(dockerfile: &str) -> Vec<&str> {
    let lines: Vec<&str> = dockerfile.lines().map(str::trim).collect();
    let last = lines
        .iter()
        .rposition(|l| l.starts_with("FROM "))
        .expect("a FROM");
    lines[last..].to_vec()
}

#[test]
fn the_images_build_the_binary_the_manifests_start_as_a_non_root_user() {
    let objects = render("gke");
    let server = find(&objects, "Deployment", "shotfarm-server");
    let agent = find(&objects, "Deployment", "agent-video-spot");
    for (file, deployment, image) in [
        ("docker/server.Dockerfile", server, "shotfarm-server"),
        ("docker/agent.Dockerfile", agent, "shotfarm-agent"),
    ] {
        let text = std::fs::read_to_string(root().join(file)).expect(file);
        let froms = text.lines().filter(|l| l.starts_with("FROM ")).count();
        assert!(froms >= 2, "{file}: multi-stage");
        assert!(text.contains("FROM rust:1-bookworm AS build"), "{file}");
        assert!(
            text.contains("cargo build --release --locked -p shotfarm --bin shotfarm"),
            "{file}"
        );
        let stage = final_stage(&text);
        let user = stage
            .iter()
            .rev()
            .find_map(|l| l.strip_prefix("USER "))
            .unwrap_or_else(|| panic!("{file}: a USER in the final stage"));
        let uid: u32 = user
            .split(':')
            .next()
            .and_then(|u| u.parse().ok())
            .unwrap_or_else(|| panic!("{file}: USER {user} is not numeric"));
        assert!(uid > 0, "{file}: USER {uid} is root");
        let health = stage
            .iter()
            .position(|l| l.starts_with("HEALTHCHECK"))
            .unwrap_or_else(|| panic!("{file}: HEALTHCHECK in the final stage"));
        assert!(!stage[health].contains("NONE"), "{file}");
        let pod = &deployment["spec"]["template"]["spec"];
        let c = &pod["containers"][0];
        let command = c["command"][0].as_str().expect("command");
        assert!(
            stage
                .iter()
                .any(|l| l.starts_with("COPY --from=build") && l.ends_with(&format!(" {command}"))),
            "{file}: the final stage installs {command}, which the Deployment runs"
        );
        assert!(
            c["image"]
                .as_str()
                .is_some_and(|i| i.starts_with(&format!("ghcr.io/shotfarm/{image}:"))),
            "{file}: {} runs {image}",
            deployment["metadata"]["name"]
        );
        let uid_in_pod = pod["securityContext"]["runAsUser"].as_u64().expect("uid");
        assert_eq!(
            uid_in_pod,
            u64::from(uid),
            "{file}: the pod runs as the image's user"
        );
        assert!(
            stage
                .iter()
                .any(|l| l.starts_with("COPY models/tiny-video")),
            "{file}: the bundled model"
        );
    }
    // Both load ONNX Runtime at start (the config has an ONNX model): the version ort binds, as
    // the tests load it (scripts/ensure-onnxruntime.sh); the agent's is the GPU build.
    let ensure = std::fs::read_to_string(root().join("scripts/ensure-onnxruntime.sh"))
        .expect("ensure-onnxruntime.sh");
    let version = ensure
        .lines()
        .find_map(|l| l.strip_prefix("ORT_VERSION="))
        .expect("ORT_VERSION");
    for (file, wheel) in [
        ("docker/server.Dockerfile", "onnxruntime"),
        ("docker/agent.Dockerfile", "onnxruntime-gpu"),
    ] {
        let text = std::fs::read_to_string(root().join(file)).expect(file);
        let stage = final_stage(&text);
        assert!(
            text.contains(&format!("\"{wheel}==${{ORT_VERSION}}\"")),
            "{file}: {wheel}"
        );
        assert!(
            stage
                .iter()
                .any(|l| *l == format!("ARG ORT_VERSION={version}")),
            "{file}: ONNX Runtime {version} in the final stage"
        );
        assert!(
            stage.iter().any(|l| l
                .contains("ORT_DYLIB_PATH=/opt/onnxruntime/lib/libonnxruntime.so.${ORT_VERSION}")),
            "{file}: ORT_DYLIB_PATH"
        );
        assert!(
            stage.contains(&"COPY --from=onnxruntime /ort/ /opt/onnxruntime/lib/"),
            "{file}: the libraries where ORT_DYLIB_PATH points"
        );
    }
    let agent = std::fs::read_to_string(root().join("docker/agent.Dockerfile")).expect("agent");
    assert!(final_stage(&agent)[0].starts_with("FROM nvidia/cuda:12."));
}
