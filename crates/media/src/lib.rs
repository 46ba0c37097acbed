//! Media helpers for ferrostack workers (work in progress).
