"""The email check Canvas's user importer makes: RFC 2822 ``addr-spec``.

`lib/sis/user_importer.rb` warns "The email address associated with user '…' is invalid"
and leaves the address out when ``EmailAddressValidator.valid?`` is false.  That validator
(the `email_address_validator` gem) matches ``ADDR_SPEC = /^(LOCAL_PART)@(DOMAIN)$/``,
built from the RFC 2822 pieces below; Ruby's ``^``/``$`` are line anchors and ``\\s`` is
ASCII whitespace, and both are kept.

``plain_emails`` answers for a whole column at once (C speed): every value is blank or a
plain ``dot-atom@dot-atom`` address, a strict subset of what ``ADDR_SPEC`` accepts.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

_ATEXT = r"[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~]"
_DOT_ATOM = rf"{_ATEXT}+(?:\.{_ATEXT}+)*"
_SPACE = r"[ \t\r\n\f\v]"
_TEXT = r"[\x01-\x09\x0B\x0C\x0E-\x7F]"
_QTEXT = r"[\x01-\x08\x0B\x0C\x0E-\x1F\x21\x23-\x5B\x5D-\x7E]"
_QUOTED_PAIR = rf"\\{_TEXT}"
_QCONTENT = rf"(?:{_QTEXT}|{_QUOTED_PAIR})"
_QUOTED_STRING = rf'"(?:{_SPACE}*{_QCONTENT})*{_SPACE}*"'
_DTEXT = r"[\x01-\x08\x0B\x0C\x0E-\x1F\x21-\x5A\x5E-\x7E]"
_DCONTENT = rf"(?:{_DTEXT}|{_QUOTED_PAIR})"
_DOMAIN_LITERAL = rf"\[(?:{_SPACE}*{_DCONTENT})*{_SPACE}*\]"
_DOMAIN = rf"(?:{_DOT_ATOM}|{_DOMAIN_LITERAL})"
_LOCAL_PART = rf"(?:{_DOT_ATOM}|{_QUOTED_STRING})"
# Ruby's ^ and $ match at any line start / end (not before a final "\n" only, as Python's).
_ADDR_SPEC = re.compile(rf"(?:^|(?<=\n)){_LOCAL_PART}@{_DOMAIN}(?=\n|\Z)", re.MULTILINE)

_PLAIN = r"[A-Za-z0-9_+\-]+(?:\.[A-Za-z0-9_+\-]+)*@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*"
_PLAIN_COLUMN = re.compile(rf"(?:{_PLAIN})?(?:\n(?:{_PLAIN})?)*+")


def valid_email(address: str) -> bool:
    """What ``EmailAddressValidator.valid?`` answers for the (stripped) address."""
    return _ADDR_SPEC.search(address) is not None


def plain_emails(values: Sequence[str]) -> bool:
    """Every value is blank or a plain address (so ``valid_email`` holds for each)."""
    return _PLAIN_COLUMN.fullmatch("\n".join(values)) is not None
