//! The node runtime's npm release tarball in a real build: a registry that serves other bytes
//! than the pinned release fails the stack before anything runs in the engine, names the
//! address and the mismatch, and keeps nothing (no tarball, no unpacked tree, no image). The
//! release from the real npm registry, unpacked into an image, is covered by the FFmpeg stack's
//! build in `workers_engine.rs` (its `deps` stack runs that npm).

mod common;

use common::engine_project::{write, Project};
use common::{docker, stderr};

use std::io::{Read as _, Write as _};
use std::net::TcpListener;

#[test]
fn a_registry_serving_other_bytes_fails_the_stack_and_keeps_nothing() {
    let p = Project::new("npmrelease", &["n"]);
    // Under the test's repository, so it is removed with it (a panic included).
    let seed = format!("{}:seed", p.repo);
    common::import_busybox_seed(None, &seed);
    // A loopback "registry" that answers every request with the wrong tarball.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let registry = format!("http://{}", listener.local_addr().unwrap());
    let asked = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let seen = std::sync::Arc::clone(&asked);
    std::thread::spawn(move || {
        for mut client in listener.incoming().map_while(Result::ok) {
            let mut head = [0u8; 4096];
            let n = client.read(&mut head).unwrap_or(0);
            seen.lock().unwrap().push(
                String::from_utf8_lossy(&head[..n])
                    .lines()
                    .next()
                    .unwrap_or("")
                    .to_string(),
            );
            let body = b"not npm";
            let _ = write!(
                client,
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = client.write_all(body);
        }
    });
    write(
        &p.root,
        "ferrostack.toml",
        &format!("[build]\nnpm_registry = \"{registry}\"\npackage_cache = false\n"),
    );
    write(&p.root, "stacks/n.toml", &format!("name = \"n\"\nimage = \"{seed}\"\nsuite = \"bookworm\"\n[[runtime]]\nname = \"node\"\n"));
    let out = common::engine_project::ferrostack(&p, &["build", "--progress", "plain"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains(&format!(
            "`{registry}/npm/-/npm-9.2.0.tgz` is not the pinned release"
        )),
        "{err}"
    );
    assert!(err.contains("sha512-oypVdaWGHDuV79RXLvp+B9gh6gDyAmoHKrQ0/JBYTWWx5D8/+AAxFdZC84fSIiyDdyW4qfrSyYGKhekxDOaMXQ=="), "the pin is named: {err}");
    assert_eq!(
        *asked.lock().unwrap(),
        ["GET /npm/-/npm-9.2.0.tgz HTTP/1.1"]
    );
    let upstream = p.root.join("target/ferrostack/upstream");
    let left: Vec<_> = std::fs::read_dir(&upstream)
        .map(|d| d.map(|e| e.unwrap().file_name()).collect())
        .unwrap_or_default();
    assert!(
        left.is_empty(),
        "nothing kept in {}: {left:?}",
        upstream.display()
    );
    let images = docker(&["images", "-q", &format!("{}:n", p.repo)]);
    assert!(
        common::stdout(&images).trim().is_empty(),
        "no image was tagged"
    );
}
