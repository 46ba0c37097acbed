//! The CycloneDX 1.5 JSON document of one stack: the image as the metadata's component, every
//! Debian package, runtime, the helper and its crates as components, the helper's dependencies.

use serde_json::{json, Value};

use super::{Inventory, ItemKind};

/// A UUID (version 5 layout) made from the stack's hash, so the serial number is deterministic.
fn serial(inventory: &Inventory) -> String {
    let h = inventory.hash_hex();
    let hex: String = h.chars().chain(std::iter::repeat('0')).take(32).collect();
    format!(
        "urn:uuid:{}-{}-5{}-8{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[13..16],
        &hex[17..20],
        &hex[20..32]
    )
}

/// The document for `inventory`.
pub fn document(inventory: &Inventory) -> Value {
    let created =
        super::timestamp::creation_time().unwrap_or_else(|_| super::timestamp::rfc3339(0));
    let helper_ref = inventory
        .items
        .iter()
        .position(|i| i.kind == ItemKind::Helper)
        .map(|i| format!("component-{i}"));
    let components: Vec<Value> = inventory
        .items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let kind = match item.kind {
                ItemKind::Helper => "application",
                ItemKind::Runtime => "framework",
                ItemKind::Debian | ItemKind::Crate | ItemKind::Language => "library",
            };
            let mut c = json!({"type": kind, "bom-ref": format!("component-{i}"), "name": item.name, "version": item.version});
            if let Some(purl) = &item.purl {
                c["purl"] = json!(purl);
            }
            if let Some(license) = &item.license {
                c["licenses"] = json!([{"expression": license}]);
            }
            if let Some((url, sha512)) = &item.download {
                c["hashes"] = json!([{"alg": "SHA-512", "content": sha512}]);
                c["externalReferences"] = json!([{"type": "distribution", "url": url}]);
            }
            if let Some((source, version)) = &item.source {
                c["properties"] = json!([{"name": "debian:source", "value": format!("{source} {version}")}]);
            }
            c
        })
        .collect();
    let mut dependencies = vec![
        json!({"ref": "image", "dependsOn": (0..inventory.items.len()).filter(|i| inventory.items[*i].kind != ItemKind::Crate).map(|i| format!("component-{i}")).collect::<Vec<_>>()}),
    ];
    if let Some(helper) = helper_ref {
        dependencies.push(json!({"ref": helper, "dependsOn": (0..inventory.items.len()).filter(|i| inventory.items[*i].kind == ItemKind::Crate).map(|i| format!("component-{i}")).collect::<Vec<_>>()}));
    }
    json!({
        "bomFormat": "CycloneDX",
        "specVersion": "1.5",
        "serialNumber": serial(inventory),
        "version": 1,
        "metadata": {
            "timestamp": created,
            "tools": {"components": [{"type": "application", "name": "ferrostack", "version": env!("CARGO_PKG_VERSION")}]},
            "component": {"type": "container", "bom-ref": "image", "name": inventory.image, "version": inventory.hash},
        },
        "components": components,
        "dependencies": dependencies,
    })
}
