//! Shared fixtures for Zhilu's benchmarks.
