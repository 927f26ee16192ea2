//! kubectl 1.33 against the sandbox API server over TCP with a generated kubeconfig: apply a CRD
//! and an instance of it (client-side apply: JSON merge patch for custom resources), wait for the
//! CRD to be established, read it back as YAML and as a table, then delete it.
//!
//! Skips (with a message) when the kubectl binary is not installed.

mod kubectl_support;

use kubectl_support::{Kubectl, binary};
use sandbox::apiserver::ApiServer;

const CRD: &str = r#"apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: gadgets.smoke.example.com
spec:
  group: smoke.example.com
  scope: Namespaced
  names:
    plural: gadgets
    singular: gadget
    kind: Gadget
    shortNames: [gdg]
  versions:
  - name: v1
    served: true
    storage: true
    subresources:
      status: {}
    additionalPrinterColumns:
    - name: Size
      type: integer
      jsonPath: .spec.size
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            properties:
              size: {type: integer}
"#;

const GADGET: &str = r#"apiVersion: smoke.example.com/v1
kind: Gadget
metadata:
  name: g1
  labels: {app: smoke}
spec:
  size: 3
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_applies_waits_gets_and_deletes() {
    let bin = binary("kubectl.1.33");
    if !bin.exists() {
        eprintln!("skipping: {} is not installed", bin.display());
        return;
    }
    let server = ApiServer::new();
    let handle = server.serve("127.0.0.1:0").await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let k = Kubectl::new(bin, &handle.url(), dir.path());

    let out = tokio::task::spawn_blocking(move || {
        let mut transcript = String::new();
        transcript += &k.ok(&["version", "-o", "json"], None);
        transcript += &k.ok(&["apply", "-f", "-"], Some(CRD));
        transcript += &k.ok(
            &[
                "wait",
                "--for=condition=Established",
                "crd/gadgets.smoke.example.com",
                "--timeout=60s",
            ],
            None,
        );
        transcript += &k.ok(&["apply", "-f", "-"], Some(GADGET));
        // Re-applying a changed manifest goes through client-side apply's JSON merge patch.
        transcript += &k.ok(&["apply", "-f", "-"], Some(&GADGET.replace("size: 3", "size: 4")));
        let yaml = k.ok(&["get", "gadget", "g1", "-o", "yaml"], None);
        assert!(yaml.contains("size: 4"), "{yaml}");
        assert!(
            yaml.contains("kubectl.kubernetes.io/last-applied-configuration"),
            "{yaml}"
        );
        let table = k.ok(&["get", "gdg"], None);
        assert!(
            table.contains("SIZE") && table.contains("g1") && table.contains('4'),
            "{table}"
        );
        let names = k.ok(&["get", "gadgets", "-l", "app=smoke", "-o", "name"], None);
        assert_eq!(names.trim(), "gadget.smoke.example.com/g1");
        // Built-ins: client-side apply computes a strategic merge patch from compiled-in types.
        let cm = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  a: one\n";
        transcript += &k.ok(&["apply", "-f", "-"], Some(cm));
        transcript += &k.ok(&["apply", "-f", "-"], Some(&cm.replace("one", "two")));
        let value = k.ok(
            &["get", "configmap", "settings", "-o", "jsonpath={.data.a}"],
            None,
        );
        assert_eq!(value, "two");
        let listing = k.ok(&["get", "configmaps"], None);
        assert!(
            listing.contains("NAME") && listing.contains("AGE") && listing.contains("settings"),
            "{listing}"
        );
        transcript += &k.ok(&["delete", "gadget", "g1"], None);
        transcript += &k.ok(&["delete", "-f", "-"], Some(CRD));
        let gone = k.fails(&["get", "crd", "gadgets.smoke.example.com"], None);
        assert!(gone.stderr.contains("NotFound"), "{}", gone.stderr);
        transcript
    })
    .await
    .unwrap();
    assert!(out.contains("v1.33"), "{out}");
    assert!(
        out.contains("customresourcedefinition.apiextensions.k8s.io/gadgets.smoke.example.com created"),
        "{out}"
    );
    assert!(out.contains("condition met"), "{out}");
    assert!(out.contains("gadget.smoke.example.com/g1 configured"), "{out}");
    let log = server.access_log();
    assert!(
        log.iter()
            .any(|r| r.verb == "patch" && r.resource == "gadgets" && r.code == 200)
    );
    assert!(
        log.iter()
            .any(|r| r.verb == "watch" && r.resource == "customresourcedefinitions")
    );
    handle.shutdown().await;
}
