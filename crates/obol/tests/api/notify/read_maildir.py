"""Prints, as JSON, every message in a maildir (what aiosmtpd's Mailbox
handler received), parsed by Python's own email package: the headers the
tests check and the decoded text of each MIME part."""

import json
import mailbox
import sys
from email.header import decode_header, make_header


def header(message, name):
    return str(make_header(decode_header(message[name] or "")))


messages = []
for message in mailbox.Maildir(sys.argv[1], create=False):
    parts = []
    for part in message.walk():
        if part.is_multipart():
            continue
        charset = part.get_content_charset() or "utf-8"
        parts.append(
            {
                "content_type": part.get_content_type(),
                "text": part.get_payload(decode=True).decode(charset),
            }
        )
    messages.append(
        {
            "from": header(message, "From"),
            "to": header(message, "To"),
            "subject": header(message, "Subject"),
            "content_type": message.get_content_type(),
            "parts": parts,
        }
    )
print(json.dumps(messages))
