"""E-mail through Django's mail framework (EMAIL_URL: SMTP in production, console/locmem in
development and tests), with the same error contract as the SMS backends."""

from __future__ import annotations

import smtplib
import threading
from email.utils import make_msgid

from django.core.mail import EmailMultiAlternatives, get_connection

from messaging.backends.base import ChannelError, EmailMessageData, SendResult


class DjangoEmailBackend:
    """Thread-safe: each dispatcher thread keeps its own mail connection (an SMTP connection
    must not be shared between threads)."""

    def __init__(self):
        self._local = threading.local()

    def _connection(self):
        if getattr(self._local, "connection", None) is None:
            self._local.connection = get_connection(fail_silently=False)
        return self._local.connection

    def send(self, message: EmailMessageData) -> SendResult:
        message_id = make_msgid(domain="attend")
        email = EmailMultiAlternatives(
            subject=message.subject,
            body=message.text,
            from_email=message.from_email or None,
            to=[message.to],
            headers={"Message-ID": message_id, "Auto-Submitted": "auto-generated"},
            connection=self._connection(),
        )
        if message.html:
            email.attach_alternative(message.html, "text/html")
        for attachment in message.attachments:
            email.attach(attachment.filename, attachment.content, attachment.mimetype)
        try:
            email.send()
        except smtplib.SMTPRecipientsRefused as error:
            raise ChannelError("The mail server refused the address.", permanent=True, code="550") from error
        except smtplib.SMTPResponseException as error:
            # 5xx replies are permanent, 4xx ask us to try again later.
            raise ChannelError(
                f"The mail server answered {error.smtp_code}.",
                permanent=error.smtp_code >= 500,
                code=str(error.smtp_code),
            ) from error
        except TimeoutError as error:
            # The server may have taken the message before the answer timed out.
            self._local.connection = None
            raise ChannelError(
                "The mail server did not answer in time.", permanent=False, ambiguous=True
            ) from error
        except (smtplib.SMTPException, OSError) as error:
            self._local.connection = None
            raise ChannelError(
                f"Could not reach the mail server: {type(error).__name__}.", permanent=False
            ) from error
        return SendResult(provider_message_id=message_id.strip("<>"), status="accepted")
