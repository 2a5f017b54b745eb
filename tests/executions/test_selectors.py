"""Execution selectors: scoping by organization and sharing, and event replay."""

import pytest
from guardian.shortcuts import assign_perm

from apps.executions import selectors
from apps.orgs.selectors import access_for_user
from tests.executions.factories import ExecutionEventFactory, WorkflowExecutionFactory
from tests.orgs.factories import MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def member():
    return UserFactory()


def test_a_member_sees_the_executions_of_their_organization_only(member):
    mine = WorkflowExecutionFactory()
    MembershipFactory(user=member, organization=mine.organization)
    WorkflowExecutionFactory()
    access = access_for_user(user=member)
    assert list(selectors.execution_list(access=access)) == [mine]
    assert selectors.execution_get(access=access, pk=mine.pk) == mine


def test_another_organizations_execution_is_not_found(member):
    theirs = WorkflowExecutionFactory()
    assert selectors.execution_get(access=access_for_user(user=member), pk=theirs.pk) is None


def test_a_shared_workflow_shows_its_executions(member):
    shared = WorkflowExecutionFactory()
    assign_perm("view_workflow", member, shared.workflow)
    assert list(selectors.execution_list(access=access_for_user(user=member))) == [shared]


def test_events_after_a_sequence_number_in_order():
    execution = WorkflowExecutionFactory()
    for seq in (3, 1, 2):
        ExecutionEventFactory(execution=execution, seq=seq)
    assert [e.seq for e in selectors.execution_events_after(execution=execution, seq=1)] == [2, 3]
