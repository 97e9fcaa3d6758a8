from ninja import Router

router = Router(tags=["区划与机构"])
