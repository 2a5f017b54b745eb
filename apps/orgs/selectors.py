"""Reads for organizations: which organizations a user belongs to and with which role."""

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import QuerySet

from .choices import MANAGER_ROLES
from .models import Membership, Organization


def organization_list(*, user: AbstractBaseUser) -> QuerySet[Organization]:
    if user.is_superuser:
        return Organization.objects.all()
    return Organization.objects.filter(memberships__user=user).distinct()


def organization_ids_for_user(*, user: AbstractBaseUser, roles: frozenset[str] | None = None) -> set:
    """Ids of the organizations where `user` holds one of `roles` (any role when None)."""
    memberships = Membership.objects.filter(user=user)
    if roles is not None:
        memberships = memberships.filter(role__in=roles)
    return set(memberships.values_list("organization_id", flat=True))


def membership_role(*, user: AbstractBaseUser, organization_id) -> str | None:
    return Membership.objects.filter(user=user, organization_id=organization_id).values_list("role", flat=True).first()


def user_manages_any_organization(*, user: AbstractBaseUser) -> bool:
    return Membership.objects.filter(user=user, role__in=MANAGER_ROLES).exists()
