from . import admin_lists  # noqa: F401  (通办清单、导入、比对)
