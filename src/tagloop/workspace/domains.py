"""Custom Vision "domains": each names the backbone a project's classifier is built on."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from tagloop.embed.backbones import DEFAULT_BACKBONE, get_backbone_spec, list_backbones
from tagloop.errors import BackboneNotFound, NotFound

GENERAL = "ee85a74c-405e-4adc-bb47-ffa8ca0c9f31"
# Well-known Custom Vision classification domain ids, so existing client code keeps working.
_KNOWN = {
    GENERAL: ("General", DEFAULT_BACKBONE),
    "a8e3c40f-fb4a-466f-832a-5e457ae4a344": ("General [A1]", "efficientnet-lite1"),
    "2e37d7fb-3a54-486a-b4d6-cfc369af0018": ("General [A2]", "efficientnet-lite2"),
    "0732100f-1a38-4e49-a514-c9b44c697ab5": ("General (compact)", "efficientnet-lite0"),
    "c151d5b5-dd07-472a-acc8-15d29dea8518": ("Food", "efficientnet-lite0"),
    "ca455789-012d-4b50-9fec-5bb63841c793": ("Landmarks", "efficientnet-lite0"),
    "b30a91ae-e3c1-4f73-a81e-c270bff27c39": ("Retail", "efficientnet-lite0"),
}
_NAMESPACE = uuid.UUID("6f1f7a52-3c1e-4c55-9d7e-7a4b0e1f2c3d")


@dataclass(frozen=True)
class Domain:
    id: str
    name: str
    backbone: str
    description: str


def list_domains() -> list[Domain]:
    """The well-known ids first, then one domain per other registered backbone."""
    domains = [
        Domain(id=did, name=name, backbone=bb, description=get_backbone_spec(bb).description)
        for did, (name, bb) in _KNOWN.items()
    ]
    named = {bb for _, bb in _KNOWN.values()}
    for spec in list_backbones():
        if spec.name not in named:
            domains.append(
                Domain(
                    id=domain_id_for(spec.name),
                    name=spec.name,
                    backbone=spec.name,
                    description=spec.description,
                )
            )
    return domains


def get_domain(domain_id: str) -> Domain:
    for domain in list_domains():
        if domain.id == domain_id:
            return domain
    raise NotFound("domain", domain_id)


def domain_id_for(backbone: str) -> str:
    """The domain id a project on ``backbone`` reports (the well-known one when there is one)."""
    for did, (_, bb) in _KNOWN.items():
        if bb == backbone:
            return did
    try:
        get_backbone_spec(backbone)
    except BackboneNotFound:
        raise
    return str(uuid.uuid5(_NAMESPACE, backbone))
