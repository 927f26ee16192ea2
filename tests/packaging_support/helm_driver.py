"""Drives Helm's Go SDK (helm-python-sdk) for the chart tests; the test suite calls it, not people.

    helm_driver.py lint     CHART VALUES_FILE            -> JSON lint report
    helm_driver.py validate CHART VALUES_FILE            -> exit 0, or exit 2 with the schema error
    helm_driver.py render   CHART RELEASE NAMESPACE VALUES_FILE
                                                         -> JSON {"crds": [...], "manifests": {...}}

Values files are read with Helm's own YAML reader. `render` validates the values against
values.schema.json first, as `helm install` and `helm template` do. Exit codes: 2 values rejected,
3 template error, 4 usage.
"""

import json
import sys

import helm_python as helm


def values(path):
    with open(path, encoding="utf-8") as f:
        return helm.values_from_yaml(f.read()) or {}


def main(argv):
    if len(argv) < 3:
        print(__doc__, file=sys.stderr)
        return 4
    command, chart_path = argv[1], argv[2]
    if command == "lint" and len(argv) == 4:
        report = helm.lint(chart_path, values(argv[3]), strict=True, kube_version="v1.33.0")
        print(json.dumps(report))
        return 0
    if command == "validate" and len(argv) == 4:
        with helm.Chart.load(chart_path) as chart:
            try:
                chart.validate_schema(values(argv[3]))
            except helm.HelmValuesError as e:
                print(str(e), file=sys.stderr)
                return 2
        return 0
    if command == "render" and len(argv) == 6:
        release, namespace, values_file = argv[3], argv[4], argv[5]
        with helm.Chart.load(chart_path) as chart:
            given = values(values_file)
            try:
                chart.validate_schema(given)
            except helm.HelmValuesError as e:
                print(str(e), file=sys.stderr)
                return 2
            try:
                manifests = chart.render(given, name=release, namespace=namespace, is_install=True)
            except helm.HelmError as e:
                print(str(e), file=sys.stderr)
                return 3
            print(json.dumps({"crds": chart.crds, "manifests": manifests}))
        return 0
    print(__doc__, file=sys.stderr)
    return 4


if __name__ == "__main__":
    sys.exit(main(sys.argv))
