//! The schoolwatch collector (skeleton: ingest, store and exposition follow).
