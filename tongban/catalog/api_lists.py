"""通办清单: import (preview, then all-or-nothing), export, national list matching."""

from ninja import Router

router = Router(tags=["通办清单与导入"])
