#!/usr/bin/env bash
# Writes deploy/base/prometheusrule.yaml, the Prometheus Operator's wrapping of alerts.yml (its
# groups under spec), from alerts.yml. Run after editing the rules; tests/it/deploy_manifests.rs
# fails while the two differ.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
out="$here/../base/prometheusrule.yaml"
{
    cat <<'HEAD'
# Generated from deploy/monitoring/alerts.yml by deploy/monitoring/sync-prometheus-rule.sh: edit
# the rules there (they carry their promtool unit tests) and run the script.
apiVersion: monitoring.coreos.com/v1
kind: PrometheusRule
metadata:
  name: shotfarm
  labels: { app: shotfarm-server }
spec:
HEAD
    # alerts.yml without its comment header, indented under spec.
    sed -n '/^groups:/,$p' "$here/alerts.yml" | sed 's/^/  /'
} >"$out"
