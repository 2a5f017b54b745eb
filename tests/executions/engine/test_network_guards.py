"""Network guards in a real run: an SMTP credential naming a private server, with and without the allowance."""

import pytest

from apps.nodes.smtp import ADDRESS_NOT_ALLOWED, SMTP_FAILED
from tests.executions.engine.helpers import chain, make_workflow, node, start, wait_finished
from tests.nodes.fakeserver import FakeSMTPServer
from tests.orgs.factories import OrganizationFactory
from tests.workflows.factories import CredentialFactory

pytestmark = pytest.mark.django_db(transaction=True)


def mailing_workflow(port: int):
    organization = OrganizationFactory()
    CredentialFactory(organization=organization, name="smtp", kind="smtp", data={"host": "127.0.0.1", "port": port})
    mail = {
        "id": "mail",
        "type": "email_send",
        "config": {"to": "ada@example.com", "subject": "Hi", "body": "Hello", "credential": "smtp"},
    }
    return make_workflow(*chain(mail), organization=organization)


def test_a_loopback_smtp_credential_is_refused_with_the_generic_text(engine_worker, settings):
    settings.CONCERTMASTER_ALLOW_PRIVATE_HTTP = False
    with FakeSMTPServer() as server:
        execution = wait_finished(start(mailing_workflow(server.port)))

    mail = node(execution, "mail")
    assert (execution.status, mail.status) == ("failed", "failed")
    assert mail.error["message"] == SMTP_FAILED
    assert mail.error["data"] == {"reason": ADDRESS_NOT_ALLOWED}
    assert mail.attempt == 1  # not retried: the address will not change
    assert server.messages == []


def test_the_administrators_allowance_lets_it_through(engine_worker, settings):
    settings.CONCERTMASTER_ALLOW_PRIVATE_HTTP = True
    with FakeSMTPServer() as server:
        execution = wait_finished(start(mailing_workflow(server.port)))

    assert execution.status == "succeeded"
    assert [message.recipients for message in server.messages] == [["ada@example.com"]]
