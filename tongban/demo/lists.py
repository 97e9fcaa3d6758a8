"""演示通办清单 (demo 通办 lists) with their 责任分工.

`entries` says where the rows come from:
- "kuasheng": the 23 rows of catalog/data/kuasheng_tongban_items.csv (national ministries responsible);
- "place:<key>": every item implemented in that place, the implementing department responsible;
- "place:<key>:kuasheng": the same, only the national 跨省通办 items;
- "province:<key>[,<key>]": every item implemented in those places, the provincial counterpart responsible;
- "items:<key>[,<key>]": the items of places.REGIONAL[<key>] implemented there, the implementing departments responsible.
"""

import datetime

LISTS = [
    {
        "name": "全国高频政务服务“跨省通办”事项清单（演示）",
        "scope": "cross_province",
        "region": "000000",
        "document_no": "国办发〔2020〕35号",
        "issued_on": datetime.date(2020, 9, 24),
        "partners": (),
        "entries": "kuasheng",
        "description": "《国务院办公厅关于加快推进政务服务“跨省通办”的指导意见》附件清单共140项；本演示收录公开来源可查的23项"
        "（见 catalog/data/kuasheng_tongban_items.csv），责任部门标注“推断”的依据事项主题推断。演示数据。",
    },
    {
        "name": "莒南县“跨省通办”事项清单及责任分工（演示）",
        "scope": "cross_province",
        "region": "371327",
        "document_no": "莒南政管办发〔2021〕2号",
        "issued_on": datetime.date(2021, 6, 11),
        "partners": (),
        "entries": "place:junan:kuasheng",
        "description": "《加快推进政务服务“跨省通办”“全省通办”和“全市通办”的工作实施方案》附件1。演示数据。",
        "deadline": datetime.date(2021, 12, 31),
        "batch": "2021年12月底前",
    },
    {
        "name": "莒南县“全省通办”事项清单及责任分工（演示）",
        "scope": "province_wide",
        "region": "371327",
        "document_no": "莒南政管办发〔2021〕2号",
        "issued_on": datetime.date(2021, 6, 11),
        "partners": (),
        "entries": "place:junan",
        "description": "《加快推进政务服务“跨省通办”“全省通办”和“全市通办”的工作实施方案》附件2，落实鲁政办发〔2021〕4号。演示数据。",
        "deadline": datetime.date(2021, 6, 30),
        "batch": "2021年6月底前",
    },
    {
        "name": "山东省“全省通办”事项清单（演示）",
        "scope": "province_wide",
        "region": "370000",
        "document_no": "鲁政办发〔2021〕4号",
        "issued_on": None,
        "partners": (),
        "entries": "province:junan,qibuqu",
        "description": "《山东省人民政府办公厅关于加快推进政务服务“跨省通办”和“全省通办”的实施意见》所附清单（演示摘录），"
        "责任单位为省级业务主管部门。演示数据。",
        "deadline": datetime.date(2021, 6, 30),
        "batch": "2021年6月底前",
    },
    {
        "name": "台州市“全市通办”事项清单（演示）",
        "scope": "city_wide",
        "region": "331000",
        "document_no": "",
        "issued_on": None,
        "partners": (),
        "entries": "place:taizhou",
        "description": "依据国办发〔2020〕35号、浙政办发〔2020〕77号和台政办发〔2021〕7号等文件梳理，“一地签约、全市共享”。演示数据。",
        "deadline": datetime.date(2023, 12, 31),
        "batch": "2023年",
    },
    {
        "name": "粤港澳大湾区“湾区通办”事项清单（东莞、珠海，演示）",
        "scope": "regional",
        "region": "440000",
        "document_no": "粤办函〔2020〕286号",
        "issued_on": datetime.date(2020, 11, 2),
        "partners": ("810000", "820000", "441900", "440400"),
        "entries": "items:dongguan,zhuhai",
        "description": "《广东省推进政务服务“跨省通办、省内通办”工作方案》：围绕大湾区“9+2”城市群，拓展不动产、税务、商事登记等领域跨境办理。演示数据。",
        "deadline": datetime.date(2021, 12, 31),
        "batch": "2021年底前",
    },
    {
        "name": "鄂尔多斯—榆林“跨省通办”试点事项清单（演示）",
        "scope": "regional",
        "region": "150600",
        "document_no": "",
        "issued_on": datetime.date(2020, 12, 10),
        "partners": ("610800",),
        "entries": "items:ordos",
        "description": "《内蒙古自治区推进政务服务“跨省通办”工作实施方案》：推动“鄂尔多斯—榆林”“跨省通办”试点先行。演示数据。",
        "deadline": datetime.date(2021, 12, 31),
        "batch": "试点",
    },
]

# Provincial counterparts for the 山东 list's 责任分工 (by department key of the implementing body).
SHANDONG_RESPONSIBLE = {
    "approval": "山东省市场监督管理局（各级行政审批服务部门实施）",
    "market": "山东省市场监督管理局",
    "police": "山东省公安厅",
    "hrss": "山东省人力资源和社会保障厅",
    "medicare": "山东省医疗保障局",
    "land": "山东省自然资源厅",
    "health": "山东省卫生健康委员会",
    "civil": "山东省民政厅",
    "transport": "山东省交通运输厅",
    "hpf": "山东省住房和城乡建设厅",
    "notary": "山东省司法厅",
    "tax": "国家税务总局山东省税务局",
    "disabled": "山东省残疾人联合会",
    "eco": "山东省生态环境厅",
    "power": "国网山东省电力公司",
    "water": "山东省住房和城乡建设厅",
    "gas": "山东省住房和城乡建设厅",
}

NATIONAL_BATCH = {"2020": ("2020年底前", datetime.date(2020, 12, 31)), "2021": ("2021年底前", datetime.date(2021, 12, 31))}
