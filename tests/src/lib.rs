//! Helpers for end-to-end tests: finding the built binaries, namespaces,
//! peer exporters.
