"""Access changes reach open live streams: a membership removed or its role changed, an API key revoked or
deleted. Signals, because the streams belong to the executions app, which orgs must not import, and because
these rows also change outside the services (the admin, cascades from a deleted user or organization)."""

from __future__ import annotations

from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from apps.core.live import access_changed, api_key_access_group, user_access_group

from .models import ApiKey, Membership


@receiver(post_save, sender=Membership, dispatch_uid="orgs.membership_saved")
def membership_saved(sender, instance: Membership, created: bool, **kwargs) -> None:
    if not created:  # a new membership only grants: nothing open can have lost access
        access_changed(user_access_group(instance.user_id))


@receiver(post_delete, sender=Membership, dispatch_uid="orgs.membership_deleted")
def membership_deleted(sender, instance: Membership, **kwargs) -> None:
    access_changed(user_access_group(instance.user_id))


@receiver(post_save, sender=ApiKey, dispatch_uid="orgs.api_key_saved")
def api_key_saved(sender, instance: ApiKey, created: bool, **kwargs) -> None:
    if not created:
        access_changed(api_key_access_group(instance.pk))


@receiver(post_delete, sender=ApiKey, dispatch_uid="orgs.api_key_deleted")
def api_key_deleted(sender, instance: ApiKey, **kwargs) -> None:
    access_changed(api_key_access_group(instance.pk))
