//! Debian's syntax for package names and version strings, checked wherever such a value comes
//! from a file (a pin in `images.lock`) and goes into a Dockerfile's `apt-get install` line.

/// A binary package name: `[a-z0-9][a-z0-9+.-]+` (Debian Policy 5.6.1; one-letter names exist
/// in the archive's history, so the second character is not required).
pub(crate) fn is_package_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    bytes
        .next()
        .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        && bytes.all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'+' | b'.' | b'-')
        })
}

/// A version, `[epoch:]upstream[-revision]` (Debian Policy 5.6.12): the epoch is digits; the
/// upstream part starts with a digit and may hold `-` only when there is a revision and `:`
/// only when there is an epoch; the revision is alphanumerics and `+.~`.
pub(crate) fn is_version(version: &str) -> bool {
    let (epoch, rest) = match version.split_once(':') {
        Some((epoch, rest)) => (Some(epoch), rest),
        None => (None, version),
    };
    if epoch.is_some_and(|e| e.is_empty() || !e.bytes().all(|b| b.is_ascii_digit())) {
        return false;
    }
    let (upstream, revision) = match rest.rsplit_once('-') {
        Some((upstream, revision)) => (upstream, Some(revision)),
        None => (rest, None),
    };
    if revision.is_some_and(|r| {
        r.is_empty()
            || !r
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'.' | b'~'))
    }) {
        return false;
    }
    upstream.as_bytes().first().is_some_and(u8::is_ascii_digit)
        && upstream.bytes().all(|b| {
            b.is_ascii_alphanumeric()
                || matches!(b, b'.' | b'+' | b'~')
                || (b == b'-' && revision.is_some())
                || (b == b':' && epoch.is_some())
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_from_the_archive_are_accepted() {
        for v in [
            "7.88.1-10+deb12u8",
            "1:2.38.1-5+deb12u3",
            "3.11.2-1+b1",
            "2.36-9+deb12u10",
            "1.2~rc1-1",
            "0",
            "2:1.0:beta-1",
            "1.0-2-3",
            "5.1.6-0+deb12u1",
        ] {
            assert!(is_version(v), "{v}");
        }
    }

    #[test]
    fn anything_else_is_refused() {
        for v in [
            "",
            "latest",
            "1.0 ; rm -rf /",
            "1.0$(id)",
            "1.0'",
            "a1.0",
            ":1.0",
            "x:1.0",
            "1.0-",
            "1.0-a b",
            "1:0:-",
            "1.0:x",
            "1.0\n",
            "1.0-r_1",
            "1.0>2",
            "-1",
        ] {
            assert!(!is_version(v), "{v:?}");
        }
    }

    #[test]
    fn package_names() {
        for n in [
            "curl",
            "libc6",
            "g++",
            "python3.11",
            "libstdc++6",
            "x11-common",
        ] {
            assert!(is_package_name(n), "{n}");
        }
        for n in ["", "Curl", "-curl", "curl;id", "curl name", "curl=1", "+x"] {
            assert!(!is_package_name(n), "{n:?}");
        }
    }
}
