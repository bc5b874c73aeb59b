"""A detect-secrets plugin for multitoken keys.

The regular expression is the one the contract publishes; a match is
reported only when its CRC-32 checksum holds, so look-alikes (made up,
mistyped, or a key's body with another checksum) are not. Used with
`detect-secrets scan --plugin tests/secret_scanning/multitoken_plugin.py`
(see docs/src/guides/leaked-keys.md and tests/api/auth/key_format.rs).
"""

import re
import zlib

from detect_secrets.plugins.base import RegexBasedDetector

BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def checksum_holds(key):
    crc = zlib.crc32(key[3:46].encode("ascii"))
    digits = ""
    for _ in range(6):
        crc, digit = divmod(crc, 62)
        digits = BASE62[digit] + digits
    return digits == key[46:]


class MultitokenKeyDetector(RegexBasedDetector):
    """Scans for multitoken device keys whose checksum holds."""

    secret_type = "multitoken key"

    denylist = [re.compile(r"\b(mt_[0-9A-Za-z]{49})\b")]

    def analyze_string(self, string):
        for match in super().analyze_string(string):
            if checksum_holds(match):
                yield match
