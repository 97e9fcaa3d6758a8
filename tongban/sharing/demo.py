"""Demo base data, data services, sharing demands and grants (filled in by its owner)."""


def load_sharing_demo(created):
    return []
