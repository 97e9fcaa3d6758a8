"""(filled in by its owner)"""

from ninja import Router

router = Router(tags=["数据共享与免提交"])
