"""Raw e-mail fixtures, written for these tests after RFC 5322, RFC 2045-2047, RFC 3464 and RFC 3834."""

from __future__ import annotations

import base64

PDF_BYTES = b"%PDF-1.4 not really a pdf, but bytes to hash\n" * 40


def plain(
    *,
    sender: str = "Jane Doe <jane@example.com>",
    to: str = "Support <support@shop.example>",
    subject: str = "My refund",
    message_id: str = "<reply-1@mail.example.com>",
    body: str = "Hello, where is my refund?\n",
    extra_headers: str = "",
) -> bytes:
    headers = f"From: {sender}\r\nTo: {to}\r\nSubject: {subject}\r\n"
    if message_id:
        headers += f"Message-ID: {message_id}\r\n"
    headers += "Date: Mon, 23 Nov 2026 10:00:00 +0100\r\nMIME-Version: 1.0\r\n"
    headers += extra_headers
    headers += 'Content-Type: text/plain; charset="utf-8"\r\nContent-Transfer-Encoding: 8bit\r\n'
    return (headers + "\r\n" + body.replace("\n", "\r\n")).encode("utf-8")


REPLY_WITH_QUOTE = plain(
    subject="Re: Your refund",
    extra_headers=(
        "In-Reply-To: <agent-1@shop.example>\r\nReferences: <order-0@shop.example> <agent-1@shop.example>\r\n"
    ),
    body=(
        "Thanks, that works for me.\n"
        "\n"
        "Jane\n"
        "-- \n"
        "Jane Doe | Example Corp | +1 555 123 4567\n"
        "\n"
        "On Mon, Nov 23, 2026 at 9:00 AM Support <support@shop.example> wrote:\n"
        "> Your refund was issued today.\n"
        "> Kind regards\n"
    ),
)

HTML_ONLY = (
    b"From: jane@example.com\r\n"
    b"To: support@shop.example\r\n"
    b"Subject: =?utf-8?q?Caf=C3=A9_order?=\r\n"
    b"Message-ID: <html-1@mail.example.com>\r\n"
    b"MIME-Version: 1.0\r\n"
    b'Content-Type: text/html; charset="utf-8"\r\n'
    b"\r\n"
    b"<html><head><style>p { color: red }</style><title>x</title></head><body>"
    b"<p>Hello&nbsp;there,</p><p>my order <b>#123</b> is late.<br>Can you help?</p>"
    b"<ul><li>item one</li><li>item two</li></ul>"
    b"<script>alert('no')</script>"
    b'<div class="gmail_quote">On Mon, Support wrote:<blockquote>old text</blockquote></div>'
    b"</body></html>\r\n"
)


def with_attachment(name: str = "invoice.pdf", text: str = "See the attached invoice.") -> bytes:
    encoded = base64.encodebytes(PDF_BYTES).decode("ascii").replace("\n", "\r\n")
    return (
        "From: Jane <jane@example.com>\r\n"
        "To: support@shop.example\r\n"
        "Subject: Invoice\r\n"
        "Message-ID: <att-1@mail.example.com>\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: multipart/mixed; boundary="XYZ"\r\n'
        "\r\n"
        "--XYZ\r\n"
        'Content-Type: multipart/alternative; boundary="ALT"\r\n'
        "\r\n"
        "--ALT\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n"
        "\r\n"
        f"{text}\r\n"
        "--ALT\r\n"
        "Content-Type: text/html; charset=utf-8\r\n"
        "\r\n"
        f"<p>{text}</p>\r\n"
        "--ALT--\r\n"
        "--XYZ\r\n"
        f'Content-Type: application/pdf; name="{name}"\r\n'
        f'Content-Disposition: attachment; filename="{name}"\r\n'
        "Content-Transfer-Encoding: base64\r\n"
        "\r\n"
        f"{encoded}"
        "--XYZ--\r\n"
    ).encode()


OUT_OF_OFFICE = plain(
    subject="Automatic reply: Your refund",
    message_id="<ooo-1@mail.example.com>",
    extra_headers="Auto-Submitted: auto-replied\r\nIn-Reply-To: <agent-1@shop.example>\r\n",
    body="I am out of the office until Monday.\n",
)


def bounce(
    status: str = "5.1.1",
    action: str = "failed",
    *,
    report: str = "message/delivery-status",
    recipient: str = "rfc822; jane@example.com",
    returned_to: str = "jane@example.com",
) -> bytes:
    return (
        "From: Mail Delivery System <MAILER-DAEMON@mx.example.net>\r\n"
        "To: support@shop.example\r\n"
        "Subject: Undelivered Mail Returned to Sender\r\n"
        f"Message-ID: <dsn-{status}@mx.example.net>\r\n"
        "Auto-Submitted: auto-replied\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="B"\r\n'
        "\r\n"
        "--B\r\n"
        "Content-Type: text/plain\r\n"
        "\r\n"
        "Your message could not be delivered to one or more recipients.\r\n"
        "--B\r\n"
        f"Content-Type: {report}\r\n"
        "\r\n"
        "Reporting-MTA: dns; mx.example.net\r\n"
        "\r\n"
        f"Final-Recipient: {recipient}\r\n"
        f"Action: {action}\r\n"
        f"Status: {status}\r\n"
        "\r\n"
        "--B\r\n"
        "Content-Type: text/rfc822-headers\r\n"
        "\r\n"
        "From: support@shop.example\r\n"
        f"To: {returned_to}\r\n"
        "Message-ID: <agent-1@shop.example>\r\n"
        "Subject: Your refund\r\n"
        "\r\n"
        "--B--\r\n"
    ).encode()


def read_receipt(
    *, in_reply_to: str = "<agent-1@shop.example>", original: str = "<agent-1@shop.example>"
) -> bytes:
    """A read receipt (RFC 8098 message disposition notification), as Outlook sends one."""
    return (
        "From: Jane Doe <jane@example.com>\r\n"
        "To: support@shop.example\r\n"
        "Subject: Read: Your refund\r\n"
        "Message-ID: <mdn-1@mail.example.com>\r\n"
        + (f"In-Reply-To: {in_reply_to}\r\n" if in_reply_to else "")
        + "MIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=disposition-notification; boundary="R"\r\n'
        "\r\n"
        "--R\r\n"
        "Content-Type: text/plain\r\n"
        "\r\n"
        "Your message was read on Monday.\r\n"
        "--R\r\n"
        "Content-Type: message/disposition-notification\r\n"
        "\r\n"
        "Reporting-UA: mail.example.com; Microsoft Outlook\r\n"
        "Final-Recipient: rfc822;jane@example.com\r\n"
        + (f"Original-Message-ID: {original}\r\n" if original else "")
        + "Disposition: manual-action/MDN-sent-manually; displayed\r\n"
        "\r\n"
        "--R--\r\n"
    ).encode()
