import io

from messaging.backends import get_sms_backend, locmem
from messaging.backends.base import SMSMessage
from messaging.backends.console import ConsoleSMSBackend


def test_console_backend_prints_the_message_and_returns_an_id():
    stream = io.StringIO()
    result = ConsoleSMSBackend(stream=stream).send(SMSMessage(to="+12125550101", body="See you at 10:00"))

    assert result.provider_message_id.startswith("console-")
    assert "+12125550101" in stream.getvalue()
    assert "See you at 10:00" in stream.getvalue()


def test_the_configured_backend_is_loaded_by_dotted_path(settings):
    settings.SMS_BACKEND = "messaging.backends.locmem.LocMemSMSBackend"
    locmem.outbox.clear()

    get_sms_backend().send(SMSMessage(to="+12125550101", body="hello"))

    assert [m.body for m in locmem.outbox] == ["hello"]
