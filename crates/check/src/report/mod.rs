//! Reports: human, JSON, SARIF 2.1.0, JUnit XML and GitHub annotations.
