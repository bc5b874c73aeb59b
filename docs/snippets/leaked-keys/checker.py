"""The key checker of the book's page "Leaked keys", which shows the part
between the ANCHOR lines; tests/api/services/guide_samples.rs runs it:

    python checker.py KEY...    # prints True or False for each
"""

# ANCHOR: checker
import re
import zlib

BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
KEY = re.compile(r"mt_[0-9A-Za-z]{49}")

def is_multitoken_key(key):
    if not KEY.fullmatch(key):
        return False
    crc = zlib.crc32(key[3:46].encode("ascii"))
    digits = ""
    for _ in range(6):
        crc, digit = divmod(crc, 62)
        digits = BASE62[digit] + digits
    return digits == key[46:]
# ANCHOR_END: checker


if __name__ == "__main__":
    import sys

    print(" ".join(str(is_multitoken_key(key)) for key in sys.argv[1:]))
