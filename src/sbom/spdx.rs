//! The SPDX 2.3 JSON document of one stack: the image DESCRIBES-ed, CONTAINS every Debian
//! package, runtime and the bundled helper (which DEPENDS_ON its crates); a child's document
//! refers to its parent's (an external document reference, with the SHA-1 SPDX asks for) and
//! its image is a DESCENDANT_OF the parent's.

use serde_json::{json, Value};
use sha1::Digest as _;

use super::{Inventory, ItemKind, SbomFormat};
use crate::error::Result;
use crate::licenses::LicenseExpression;
use crate::lock::Lockfile;
use crate::session::Session;

/// Where the documents' namespaces live (not fetched: a namespace only names a document).
const NAMESPACE_BASE: &str = "https://spdx.ferrostack.invalid";

/// The namespace of a stack's document: unique per stack and hash, the same on every machine.
pub fn namespace(stack: &str, hash_hex: &str) -> String {
    format!("{NAMESPACE_BASE}/{stack}-{hash_hex}")
}

/// The document for `inventory`; a parent's document is made too, for its checksum.
pub fn document(inventory: &Inventory, session: &Session, lock: &Lockfile) -> Result<Value> {
    let created = super::timestamp::creation_time().map_err(crate::error::Error::from)?;
    let none = "NOASSERTION";
    let mut packages = vec![{
        let mut image = json!({
            "SPDXID": "SPDXRef-Image",
            "name": inventory.image,
            "versionInfo": inventory.hash,
            "downloadLocation": none,
            "filesAnalyzed": false,
            "licenseConcluded": none,
            "licenseDeclared": none,
            "copyrightText": none,
            "primaryPackagePurpose": "CONTAINER",
            "comment": format!("the `{}` stack's image, as ferrostack built it; its hash covers every input", inventory.stack),
        });
        if let Some(digest) = &inventory.digest {
            image["externalRefs"] = json!([{"referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl", "referenceLocator": format!("pkg:oci/{}@{}", inventory.stack, digest.replace(':', "%3A"))}]);
        }
        image
    }];
    let mut relationships = vec![
        json!({"spdxElementId": "SPDXRef-DOCUMENT", "relationshipType": "DESCRIBES", "relatedSpdxElement": "SPDXRef-Image"}),
    ];
    let helper_id = inventory
        .items
        .iter()
        .position(|i| i.kind == ItemKind::Helper)
        .map(|i| format!("SPDXRef-Package-{i}"));
    for (i, item) in inventory.items.iter().enumerate() {
        let id = format!("SPDXRef-Package-{i}");
        let mut package = json!({
            "SPDXID": id,
            "name": item.name,
            "versionInfo": item.version,
            "downloadLocation": none,
            "filesAnalyzed": false,
            "licenseConcluded": none,
            "licenseDeclared": none,
            "copyrightText": none,
        });
        if let Some(purl) = &item.purl {
            package["externalRefs"] = json!([{"referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl", "referenceLocator": purl}]);
        }
        match item.kind {
            ItemKind::Debian => {
                package["supplier"] = json!("Organization: Debian");
                if let Some(license) = &item.license {
                    package["licenseDeclared"] = json!(license);
                }
                if let Some((source, version)) = &item.source {
                    package["sourceInfo"] = json!(format!(
                        "built from the Debian source package {source} {version}"
                    ));
                }
            }
            ItemKind::Runtime => {
                package["comment"] = json!("a runtime, as the image reports its version")
            }
            ItemKind::Helper => package["primaryPackagePurpose"] = json!("APPLICATION"),
            ItemKind::Crate | ItemKind::Language => {
                package["primaryPackagePurpose"] = json!("LIBRARY")
            }
        }
        if item.kind != ItemKind::Debian {
            if let Some(license) = &item.license {
                package["licenseDeclared"] = json!(license);
            }
        }
        if let Some((url, sha512)) = &item.download {
            package["downloadLocation"] = json!(url);
            package["checksums"] = json!([{"algorithm": "SHA512", "checksumValue": sha512}]);
        }
        let (from, kind) = match (item.kind, &helper_id) {
            (ItemKind::Crate, Some(helper)) => (helper.clone(), "DEPENDS_ON"),
            _ => ("SPDXRef-Image".to_string(), "CONTAINS"),
        };
        relationships.push(
            json!({"spdxElementId": from, "relationshipType": kind, "relatedSpdxElement": id}),
        );
        packages.push(package);
    }
    let mut doc = json!({
        "spdxVersion": "SPDX-2.3",
        "dataLicense": "CC0-1.0",
        "SPDXID": "SPDXRef-DOCUMENT",
        "name": format!("ferrostack {}", inventory.stack),
        "documentNamespace": namespace(&inventory.stack, inventory.hash_hex()),
        "creationInfo": {"created": created, "creators": [format!("Tool: ferrostack-{}", env!("CARGO_PKG_VERSION"))]},
        "packages": packages,
        "relationships": relationships,
    });
    // Every `LicenseRef-` a package declares, with what it stands for.
    let references: std::collections::BTreeSet<String> = inventory
        .items
        .iter()
        .filter_map(|i| i.license.as_deref())
        .flat_map(LicenseExpression::references_in)
        .collect();
    if !references.is_empty() {
        doc["hasExtractedLicensingInfos"] = references
            .iter()
            .map(|id| {
                let name = id.trim_start_matches("LicenseRef-Debian-");
                json!({"licenseId": id, "name": name, "extractedText": format!("The licence a Debian copyright file (/usr/share/doc/<package>/copyright, copyright-format 1.0) calls `{name}`; SPDX has no identifier for it. Its full text is in that file in the image.")})
            })
            .collect::<Vec<_>>()
            .into();
    }
    if let Some(parent) = &inventory.parent {
        let parent_inventory = Inventory::of(session, lock, parent)?;
        let parent_doc = super::document(session, lock, parent, SbomFormat::Spdx)?;
        doc["externalDocumentRefs"] = json!([{
            "externalDocumentId": "DocumentRef-parent",
            "spdxDocument": namespace(parent, parent_inventory.hash_hex()),
            "checksum": {"algorithm": "SHA1", "checksumValue": hex::encode(sha1::Sha1::digest(parent_doc.as_bytes()))},
        }]);
        doc["relationships"].as_array_mut().expect("an array").push(json!({"spdxElementId": "SPDXRef-Image", "relationshipType": "DESCENDANT_OF", "relatedSpdxElement": "DocumentRef-parent:SPDXRef-Image"}));
    }
    Ok(doc)
}
