"""The words the demo data is made of, in Chinese and in English."""

from __future__ import annotations

from dataclasses import dataclass

LOCALES = ("zh_CN", "en")


@dataclass(frozen=True)
class Vocabulary:
    """Everything locale-specific the generator picks from (Faker supplies names and streets)."""

    places: dict[str, tuple[str, ...]]  # province (or state) -> its cities
    industries: tuple[str, ...]
    sources: tuple[str, ...]
    channels: tuple[str, ...]
    products: tuple[tuple[str, str, int], ...]  # name, category, price
    teams: tuple[str, str]
    interaction_notes: tuple[str, ...]
    ticket_subjects: dict[str, tuple[str, ...]]  # ticket kind -> subjects
    ticket_categories: tuple[str, ...]
    tags: dict[str, str]  # tag meaning -> tag text
    praise: tuple[str, ...]
    criticism: tuple[str, ...]


ZH_CN = Vocabulary(
    places={
        "广东省": ("广州市", "深圳市", "佛山市", "东莞市", "珠海市"),
        "浙江省": ("杭州市", "宁波市", "温州市", "绍兴市"),
        "江苏省": ("南京市", "苏州市", "无锡市", "常州市"),
        "上海市": ("上海市",),
        "北京市": ("北京市",),
        "山东省": ("济南市", "青岛市", "烟台市"),
        "四川省": ("成都市", "绵阳市"),
        "湖北省": ("武汉市", "宜昌市"),
        "福建省": ("福州市", "厦门市", "泉州市"),
        "河南省": ("郑州市", "洛阳市"),
        "湖南省": ("长沙市", "株洲市"),
        "陕西省": ("西安市",),
        "天津市": ("天津市",),
        "重庆市": ("重庆市",),
    },
    industries=("制造业", "零售", "餐饮", "教育", "医疗健康", "互联网", "物流", "建筑"),
    sources=("门店", "官网", "微信", "抖音", "转介绍", "展会"),
    channels=("门店", "天猫", "京东", "微信小程序", "官网"),
    products=(
        ("有机绿茶礼盒", "茶叶", 268),
        ("铁观音 500g", "茶叶", 198),
        ("普洱茶饼", "茶叶", 388),
        ("紫砂茶壶", "茶具", 580),
        ("旅行茶具套装", "茶具", 239),
        ("桂花乌龙", "茶叶", 128),
        ("企业定制茶礼", "礼品", 1880),
        ("茶点组合", "食品", 88),
    ),
    teams=("华东组", "华南组"),
    interaction_notes=(
        "电话回访，了解近期使用情况",
        "微信发送新品介绍",
        "上门拜访，洽谈年度采购",
        "节日问候",
        "确认收货及满意度",
        "邀请参加会员日活动",
        "跟进报价",
        "提醒积分即将到期",
    ),
    ticket_subjects={
        "inquiry": ("咨询会员积分规则", "询问发货时间", "咨询发票开具"),
        "presale": ("企业团购报价", "礼盒定制咨询"),
        "aftersale": ("包装破损需要换货", "申请退货", "商品与描述不符"),
        "complaint": ("投诉配送延迟", "投诉客服态度", "投诉商品质量问题", "投诉退款太慢"),
    },
    ticket_categories=("物流", "商品质量", "服务态度", "账户与积分", "发票", "价格"),
    tags={
        "vip": "VIP",
        "company": "企业客户",
        "online": "线上偏好",
        "store": "门店常客",
        "gift": "礼品采购",
        "complained": "曾投诉",
    },
    praise=("服务很好", "茶叶品质不错", "发货很快", "会继续购买"),
    criticism=("配送太慢", "客服回复不及时", "价格偏高", "包装有破损"),
)

EN = Vocabulary(
    places={
        "California": ("Los Angeles", "San Francisco", "San Diego", "San Jose"),
        "New York": ("New York", "Buffalo", "Rochester"),
        "Texas": ("Houston", "Austin", "Dallas"),
        "Illinois": ("Chicago", "Springfield"),
        "Washington": ("Seattle", "Spokane"),
        "Massachusetts": ("Boston", "Cambridge"),
        "Florida": ("Miami", "Orlando", "Tampa"),
        "Georgia": ("Atlanta", "Savannah"),
        "Colorado": ("Denver", "Boulder"),
    },
    industries=(
        "Manufacturing",
        "Retail",
        "Hospitality",
        "Education",
        "Healthcare",
        "Software",
        "Logistics",
        "Construction",
    ),
    sources=("store", "website", "social", "referral", "trade show", "email"),
    channels=("store", "web", "app", "marketplace", "phone"),
    products=(
        ("Organic green tea box", "tea", 39),
        ("Oolong 500g", "tea", 29),
        ("Pu-erh cake", "tea", 55),
        ("Clay teapot", "teaware", 85),
        ("Travel tea set", "teaware", 35),
        ("Osmanthus oolong", "tea", 19),
        ("Corporate gift set", "gifts", 260),
        ("Tea snacks", "food", 12),
    ),
    teams=("East", "West"),
    interaction_notes=(
        "Follow-up call on recent order",
        "Sent the new season catalogue",
        "Site visit, annual plan",
        "Holiday greetings",
        "Checked delivery and satisfaction",
        "Invited to members' day",
        "Quote follow-up",
        "Reminded of expiring points",
    ),
    ticket_subjects={
        "inquiry": ("Question about loyalty points", "When will my order ship?", "Invoice request"),
        "presale": ("Bulk order quote", "Custom gift box"),
        "aftersale": ("Damaged package, exchange", "Return request", "Item not as described"),
        "complaint": (
            "Late delivery complaint",
            "Rude support complaint",
            "Quality complaint",
            "Refund too slow",
        ),
    },
    ticket_categories=("delivery", "quality", "service", "account", "invoice", "price"),
    tags={
        "vip": "vip",
        "company": "business",
        "online": "online",
        "store": "in-store",
        "gift": "gifting",
        "complained": "complained",
    },
    praise=("Great service", "Lovely tea", "Fast shipping", "Will buy again"),
    criticism=(
        "Delivery too slow",
        "Support was slow to answer",
        "Too expensive",
        "Box was damaged",
    ),
)


def vocabulary(locale: str) -> Vocabulary:
    """The vocabulary for a locale Patron's demo knows."""
    return ZH_CN if locale == "zh_CN" else EN
