"""OutboxBackend: the .eml and .html files it writes, its errors and its log lines."""

from __future__ import annotations

import email
import email.policy
import logging
from email.message import EmailMessage
from pathlib import Path

import pytest

from digest.errors import MailConfigError
from digest.mail.outbox import OutboxBackend
from tests.mail.conftest import RECIPIENT, UNSUBSCRIBE_URL, make_email


def read_eml(path: str | Path) -> EmailMessage:
    return email.message_from_bytes(Path(path).read_bytes(), policy=email.policy.default)


def test_outbox_eml_is_multipart_alternative(tmp_path):
    email_value = make_email()

    sent = OutboxBackend(tmp_path / "outbox").send(email_value)

    message = read_eml(sent.location)
    assert message.get_content_type() == "multipart/alternative"
    parts = list(message.iter_parts())
    assert [part.get_content_type() for part in parts] == ["text/plain", "text/html"]
    assert [part.get_content_charset() for part in parts] == ["utf-8", "utf-8"]
    assert parts[0].get_content() == email_value.text


def test_outbox_eml_has_standard_headers(tmp_path):
    email_value = make_email()

    sent = OutboxBackend(tmp_path / "outbox").send(email_value)

    message = read_eml(sent.location)
    assert message["From"] == email_value.sender
    assert message["To"] == RECIPIENT
    assert message["Subject"] == email_value.subject
    assert message["Message-ID"] == sent.message_id
    assert message["Date"] is not None


def test_outbox_eml_has_unsubscribe_headers(tmp_path):
    sent = OutboxBackend(tmp_path / "outbox").send(make_email())

    message = read_eml(sent.location)
    assert message["List-Unsubscribe"] == f"<{UNSUBSCRIBE_URL}>"
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"


def test_outbox_non_ascii_survives(tmp_path):
    email_value = make_email(
        sender="Jean-François Dupré <digest@example.org>",
        subject="3 nouveaux articles · 量子 計算",
        text="Bonjour Jean-François,\n量子コンピュータ の 論文\n",
        html="<p>Bonjour Jean-François, <b>量子</b></p>",
    )

    sent = OutboxBackend(tmp_path / "outbox").send(email_value)

    message = read_eml(sent.location)
    text_part, html_part = message.iter_parts()
    assert message["Subject"] == email_value.subject
    assert message["From"].addresses[0].display_name == "Jean-François Dupré"
    assert text_part.get_content() == email_value.text
    assert html_part.get_content().rstrip("\n") == email_value.html


def test_outbox_html_copy_equals_html_part(tmp_path):
    email_value = make_email(html="<p>Bonjour Jean-François, <b>量子</b></p>")

    sent = OutboxBackend(tmp_path / "outbox").send(email_value)

    html_copy = Path(sent.location).with_suffix(".html").read_text(encoding="utf-8")
    html_part = read_eml(sent.location).get_body(preferencelist=("html",))
    assert html_copy == email_value.html
    assert html_part.get_content().rstrip("\n") == html_copy


def test_outbox_file_name_has_kind(tmp_path):
    sent = OutboxBackend(tmp_path / "outbox").send(make_email(kind="confirm"))

    assert Path(sent.location).parent == tmp_path / "outbox"
    assert "-confirm-" in Path(sent.location).name
    assert Path(sent.location).suffix == ".eml"


def test_outbox_unwritable_directory_is_config_error(tmp_path):
    blocker = tmp_path / "regular-file"
    blocker.write_text("not a folder")
    directory = blocker / "outbox"

    with pytest.raises(MailConfigError) as caught:
        OutboxBackend(directory).send(make_email())

    assert str(directory) in str(caught.value)
    assert "DIGEST_OUTBOX_DIR" in str(caught.value)


def test_outbox_error_hides_recipient(tmp_path):
    blocker = tmp_path / "regular-file"
    blocker.write_text("not a folder")

    with pytest.raises(MailConfigError) as caught:
        OutboxBackend(blocker / "outbox").send(make_email())

    assert "reader" not in str(caught.value)


def test_outbox_info_log_hides_recipient(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="digest.mail.outbox")

    sent = OutboxBackend(tmp_path / "outbox").send(make_email())

    messages = [record.getMessage() for record in caplog.records if record.name == "digest.mail.outbox"]
    assert len(messages) == 1
    assert sent.message_id in messages[0]
    assert "reader" not in messages[0]
