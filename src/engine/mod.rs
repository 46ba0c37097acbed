//! Talks to the Docker Engine through bollard.
