"""The chart ships exactly the CRDs generated into crds/ (so the copy cannot drift)."""

from __future__ import annotations

import yaml

from conftest import CHART_DIR, ROOT

SOURCE = ROOT / "crds"
COPY = CHART_DIR / "crds"
FIX = f"run: cp {SOURCE.relative_to(ROOT)}/*.yaml {COPY.relative_to(ROOT)}/"


def test_chart_crds_are_byte_identical_copies():
    source = {p.name: p.read_bytes() for p in SOURCE.glob("*.yaml")}
    copy = {p.name: p.read_bytes() for p in COPY.glob("*.yaml")}
    assert source, "crds/*.yaml is empty"
    assert sorted(copy) == sorted(source), f"chart CRD files differ from crds/: {FIX}"
    for name, content in source.items():
        assert copy[name] == content, f"{COPY.relative_to(ROOT)}/{name} differs from crds/{name}: {FIX}"


def test_chart_carries_the_crds_the_templates_use(chart):
    kinds = set()
    for crd in chart.crds:
        for doc in yaml.safe_load_all(crd["data"]):
            if doc:
                assert doc["kind"] == "CustomResourceDefinition"
                kinds.add((doc["spec"]["group"], doc["spec"]["names"]["kind"]))
    assert {("elbv2.k8s.aws", "IngressClassParams"), ("elbv2.k8s.aws", "TargetGroupBinding")} <= kinds


def test_ingress_class_params_values_validate_against_the_crd(render):
    """The `ingressClassParams.spec` block renders into an object the CRD schema accepts."""
    import jsonschema

    doc = next(d for d in yaml.safe_load_all((COPY / "elbv2.k8s.aws_ingressclassparams.yaml").read_text()) if d)
    (version,) = [v for v in doc["spec"]["versions"] if v["name"] == "v1beta1"]
    schema = version["schema"]["openAPIV3Schema"]
    spec = {"scheme": "internet-facing", "ipAddressType": "dualstack",
            "group": {"name": "shared"}, "inboundCIDRs": ["10.0.0.0/8"]}
    params = render({"ingressClassParams": {"spec": spec}}).one("IngressClassParams")
    jsonschema.validate(params, schema)
    bad = render({"ingressClassParams": {"spec": {"scheme": "public"}}}).one("IngressClassParams")
    try:
        jsonschema.validate(bad, schema)
    except jsonschema.ValidationError as error:
        assert "public" in error.message
    else:
        raise AssertionError("the CRD schema accepted scheme: public")
