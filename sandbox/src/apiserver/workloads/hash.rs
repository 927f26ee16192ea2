//! Names derived from pod templates, as kube-controller-manager forms them: the
//! `pod-template-hash` of a Deployment's ReplicaSets and the hash suffix of StatefulSet and
//! DaemonSet ControllerRevisions (FNV-1a 32 of the template, its decimal digits mapped through
//! `rand.SafeEncodeString`'s alphabet, so `674589f8d8`-shaped), and replica name suffixes.
//!
//! Invariant: the hash depends only on the template's content (keys in sorted order, whatever
//! order the JSON came in) and the collision count, never on map iteration order or on the
//! `pod-template-hash` label the hash itself puts into the template.

use serde_json::Value;

/// The alphabet of `k8s.io/apimachinery/pkg/util/rand.SafeEncodeString` (no vowels, no 0/1/3).
const SAFE_ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

/// The label a Deployment's ReplicaSets and pods carry.
pub const POD_TEMPLATE_HASH_LABEL: &str = "pod-template-hash";

/// FNV-1a, 32 bits (what `hash/fnv.New32a` computes).
#[derive(Clone, Copy)]
struct Fnv32a(u32);

impl Fnv32a {
    fn new() -> Self {
        Fnv32a(0x811c_9dc5)
    }

    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= u32::from(*b);
            self.0 = self.0.wrapping_mul(0x0100_0193);
        }
    }
}

/// Feeds a JSON value with object keys in sorted order, so the hash does not depend on how the
/// map was built.
fn feed(h: &mut Fnv32a, v: &Value) {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            h.write(b"{");
            for k in keys {
                h.write(k.as_bytes());
                h.write(b":");
                feed(h, &m[k]);
                h.write(b",");
            }
            h.write(b"}");
        }
        Value::Array(a) => {
            h.write(b"[");
            for x in a {
                feed(h, x);
                h.write(b",");
            }
            h.write(b"]");
        }
        other => h.write(other.to_string().as_bytes()),
    }
}

/// `rand.SafeEncodeString(fmt.Sprint(n))`: each decimal digit mapped into the safe alphabet.
pub fn safe_encode(n: u32) -> String {
    n.to_string()
        .bytes()
        .map(|b| SAFE_ALPHABET[usize::from(b) % SAFE_ALPHABET.len()] as char)
        .collect()
}

/// The template without the `pod-template-hash` label (the controller hashes the template before
/// adding it).
fn without_hash_label(template: &Value) -> Value {
    let mut t = template.clone();
    if let Some(labels) = t.pointer_mut("/metadata/labels").and_then(Value::as_object_mut) {
        labels.remove(POD_TEMPLATE_HASH_LABEL);
    }
    t
}

/// The `pod-template-hash` of a Deployment's pod template with its `status.collisionCount`.
pub fn pod_template_hash(template: &Value, collision_count: u32) -> String {
    let mut h = Fnv32a::new();
    feed(&mut h, &without_hash_label(template));
    if collision_count > 0 {
        h.write(&collision_count.to_le_bytes());
    }
    safe_encode(h.0)
}

/// The hash suffix of a StatefulSet or DaemonSet ControllerRevision holding `template`.
pub fn revision_hash(template: &Value) -> String {
    let mut h = Fnv32a::new();
    h.write(b"revision");
    feed(&mut h, template);
    safe_encode(h.0)
}

/// A deterministic five-character replica name suffix (like the random one of `generateName`).
pub fn replica_suffix(owner: &str, serial: u64) -> String {
    let mut h = Fnv32a::new();
    h.write(owner.as_bytes());
    h.write(&serial.to_le_bytes());
    let mut n = h.0;
    (0..5)
        .map(|_| {
            let c = SAFE_ALPHABET[(n % SAFE_ALPHABET.len() as u32) as usize] as char;
            n /= SAFE_ALPHABET.len() as u32;
            c
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn fnv32a_matches_the_reference_vectors() {
        let mut h = Fnv32a::new();
        h.write(b"");
        assert_eq!(h.0, 0x811c_9dc5);
        let mut h = Fnv32a::new();
        h.write(b"a");
        assert_eq!(h.0, 0xe40c_292c);
        let mut h = Fnv32a::new();
        h.write(b"foobar");
        assert_eq!(h.0, 0xbf9c_f968);
    }

    #[test]
    fn safe_encoding_uses_kubernetes_digit_mapping() {
        // Digits map to 4 5 6 7 8 9 b c d f, which is why real hashes look like `674589f8d8`.
        assert_eq!(safe_encode(1_234_567_890), "56789bcdf4");
        assert!(
            pod_template_hash(&json!({"spec": {}}), 0)
                .chars()
                .all(|c| "456789bcdf".contains(c))
        );
    }

    #[test]
    fn hash_ignores_key_order_and_its_own_label_but_not_content() {
        let a = json!({"metadata": {"labels": {"app": "web", "tier": "x"}}, "spec": {"containers": [{"name": "c", "image": "i"}]}});
        let b = json!({"spec": {"containers": [{"image": "i", "name": "c"}]}, "metadata": {"labels": {"tier": "x", "app": "web", "pod-template-hash": "zzz"}}});
        assert_eq!(pod_template_hash(&a, 0), pod_template_hash(&b, 0));
        let mut c = a.clone();
        c["metadata"]["annotations"] = json!({"kubectl.kubernetes.io/restartedAt": "now"});
        assert_ne!(pod_template_hash(&a, 0), pod_template_hash(&c, 0));
        assert_ne!(pod_template_hash(&a, 0), pod_template_hash(&a, 1));
        assert_ne!(revision_hash(&a), revision_hash(&c));
    }

    #[test]
    fn replica_suffixes_are_five_safe_characters_and_vary() {
        let a = replica_suffix("web-abc", 1);
        let b = replica_suffix("web-abc", 2);
        assert_eq!(a.len(), 5);
        assert!(a.bytes().all(|c| SAFE_ALPHABET.contains(&c)));
        assert_ne!(a, b);
    }
}
