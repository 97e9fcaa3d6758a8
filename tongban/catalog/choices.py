"""Code lists of the catalogue (STANDARDS.md) and the 通办 vocabulary (DESIGN.md glossary)."""

from tongban.core.codes import ITEM_TYPES, LEVELS

ITEM_TYPE_CHOICES = list(ITEM_TYPES.items())
LEVEL_CHOICES = list(LEVELS.items())
MODES = [("online", "全程网办"), ("proxy", "异地代收代办"), ("joint", "多地联办")]
SCOPES = [("cross_province", "跨省通办"), ("province_wide", "全省通办"), ("city_wide", "全市通办"), ("regional", "区域通办")]
DELIVERY = [("mail", "邮寄送达"), ("online", "网上送达（电子证照）"), ("pickup", "窗口领取"), ("remote_print", "异地打印")]
APPLICANT_TYPES = [("1", "自然人"), ("2", "企业法人"), ("3", "事业法人"), ("4", "社会组织法人"), ("5", "非法人企业"), ("6", "行政机关"), ("9", "其他组织")]
CASE_KINDS = [("1", "即办件"), ("2", "承诺件")]
POWER_SOURCES = [("1", "法定本级行使"), ("2", "上级下放"), ("3", "上级授权"), ("4", "同级授权"), ("5", "上级委托"), ("6", "同级委托")]
MODE_LABELS, SCOPE_LABELS = dict(MODES), dict(SCOPES)
