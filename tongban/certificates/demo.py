"""Demo certificate types, issuer keys and certificates (filled in by its owner)."""


def load_certificate_demo(created):
    return []
