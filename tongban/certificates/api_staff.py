"""(filled in by its owner)"""

from ninja import Router

router = Router(tags=["电子证照（工作人员）"])
