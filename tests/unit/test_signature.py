from equitr.web.signature import sign, verify

# GitHub's documented test vector ("Validating webhook deliveries").
VECTOR_SECRET = "It's a Secret to Everybody"
VECTOR_BODY = b"Hello, World!"
VECTOR_SIG = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"


def test_github_test_vector() -> None:
    assert sign(VECTOR_BODY, VECTOR_SECRET) == VECTOR_SIG
    assert verify(VECTOR_BODY, VECTOR_SIG, VECTOR_SECRET)


def test_refusals() -> None:
    assert not verify(VECTOR_BODY + b" ", VECTOR_SIG, VECTOR_SECRET)  # tampered body
    assert not verify(VECTOR_BODY, VECTOR_SIG, "another secret")  # wrong secret
    assert not verify(VECTOR_BODY, None, VECTOR_SECRET)  # missing
    assert not verify(VECTOR_BODY, "", VECTOR_SECRET)
    assert not verify(VECTOR_BODY, "sha1=0a4d55a8d778e5022fab701977c5d840bbc486d0", VECTOR_SECRET)  # sha1 only
    assert not verify(VECTOR_BODY, "sha256=zz" + VECTOR_SIG[9:], VECTOR_SECRET)  # malformed hex
    assert not verify(VECTOR_BODY, VECTOR_SIG[:-2], VECTOR_SECRET)  # short
    assert not verify(VECTOR_BODY, VECTOR_SIG.upper(), VECTOR_SECRET)  # wrong prefix case


def test_empty_key_forgery_is_refused() -> None:
    # Anyone can compute an HMAC under the empty key; an unset secret must never verify.
    forged = sign(VECTOR_BODY, "")
    assert not verify(VECTOR_BODY, forged, "")


def test_uppercase_hex_digest_accepted() -> None:
    assert verify(VECTOR_BODY, "sha256=" + VECTOR_SIG[7:].upper(), VECTOR_SECRET)
