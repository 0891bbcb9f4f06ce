#!/usr/bin/env bash
# Renders the docs' diagrams from their graphviz sources (apt-get install graphviz); commit both.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.." && dot -Tsvg docs/lane.dot -o docs/lane.svg
