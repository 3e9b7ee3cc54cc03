"""Installs, upgrades or uninstalls the chart in a real cluster with the Helm 4 SDK
(helm-python-sdk), for the end-to-end chart test:

    python helm_release.py install|upgrade|uninstall KUBECONFIG NAMESPACE RELEASE [VALUES_JSON]

Prints the release summary as one JSON line."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import helm_python as helm

CHART_DIR = Path(__file__).resolve().parents[2] / "charts" / "aws-load-balancer-controller"


def main(argv: list[str]) -> int:
    if len(argv) < 4 or argv[0] not in ("install", "upgrade", "uninstall"):
        print(__doc__, file=sys.stderr)
        return 2
    verb, kubeconfig, namespace, release = argv[:4]
    values = json.loads(argv[4]) if len(argv) > 4 else {}
    with helm.Config(kubeconfig_path=kubeconfig, namespace=namespace) as config:
        if verb == "uninstall":
            result = config.uninstall(release, timeout=120)
        else:
            with helm.Chart.load(CHART_DIR) as chart:
                if verb == "install":
                    result = config.install(chart, release, values, namespace=namespace,
                                            create_namespace=True, timeout=120)
                else:
                    result = config.upgrade(chart, release, values, namespace=namespace,
                                            timeout=120)
    print(json.dumps(result, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
