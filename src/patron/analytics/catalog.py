"""The feature catalogue: every name `patron score` computes and rule expressions may use."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class FeatureKind(StrEnum):
    """The value type of a feature, as rules and tables see it."""

    number = "number"
    integer = "integer"
    text = "text"
    boolean = "boolean"
    date = "date"
    tags = "tags"


DUCKDB_TYPES: dict[FeatureKind, str] = {
    FeatureKind.number: "DOUBLE",
    FeatureKind.integer: "BIGINT",
    FeatureKind.text: "VARCHAR",
    FeatureKind.boolean: "BOOLEAN",
    FeatureKind.date: "DATE",
    FeatureKind.tags: "VARCHAR[]",
}


@dataclass(frozen=True)
class Feature:
    """One customer feature: its name, type, unit and meaning in English and Chinese."""

    name: str
    kind: FeatureKind
    unit: str
    meaning: str
    meaning_zh: str

    @property
    def duckdb_type(self) -> str:
        """The DuckDB column type that holds this feature."""
        return DUCKDB_TYPES[self.kind]


_N, _I, _T, _B, _TAGS = (
    FeatureKind.number,
    FeatureKind.integer,
    FeatureKind.text,
    FeatureKind.boolean,
    FeatureKind.tags,
)

# (name, kind, unit, meaning, 含义), grouped as `patron score` computes them.
_ROWS: tuple[tuple[str, FeatureKind, str, str, str], ...] = (
    # Purchases
    (
        "recency_days",
        _I,
        "days",
        "Days since the last paid purchase; NULL for a customer who never bought.",
        "距最近一次付款购买的天数；从未购买为 NULL。",
    ),
    (
        "frequency",
        _I,
        "purchase days",
        "Repeat purchase days: distinct days with a paid order, minus the first (the BG/NBD x).",
        "重复购买天数：有付款订单的不同天数减去首购那天（BG/NBD 模型的 x）。",
    ),
    (
        "tenure_days",
        _I,
        "days",
        "Days since the customer first appeared: the first paid purchase or the registration,"
        " whichever came first.",
        "客户出现至今的天数：从首次付款购买或登记建档（取较早者）算起。",
    ),
    (
        "monetary_total",
        _N,
        "currency",
        "Total value of paid orders to date; refunded and cancelled orders do not count.",
        "截至当前的付款订单总金额；退款和取消的订单不计。",
    ),
    (
        "monetary_avg",
        _N,
        "currency",
        "Mean value of the repeat purchase days (the Gamma-Gamma input); 0 without a repeat.",
        "重复购买日的平均金额（Gamma-Gamma 模型的输入）；无重复购买为 0。",
    ),
    (
        "purchase_span_days",
        _I,
        "days",
        "Days from the first to the last purchase day (the BG/NBD t_x); NULL without a purchase.",
        "首次到最近一次购买日之间的天数（BG/NBD 模型的 t_x）；从未购买为 NULL。",
    ),
    (
        "days_since_first_purchase",
        _I,
        "days",
        "Days since the first paid purchase; NULL for a customer who never bought.",
        "距首次付款购买的天数；从未购买为 NULL。",
    ),
    (
        "last_gap_days",
        _I,
        "days",
        "Days between the last two purchase days; NULL with fewer than two.",
        "最近两个购买日之间的天数；少于两个购买日为 NULL。",
    ),
    (
        "days_to_next_purchase",
        _N,
        "days",
        "Expected days until the next purchase: the usual gap minus the days since the last"
        " purchase (else the last product's repurchase cycle); negative when overdue.",
        "预计距下次购买的天数：平时的购买间隔减去距上次购买的天数（否则用最后购买商品的复购周期）；"
        "已超期时为负数。",
    ),
    ("orders_total", _I, "orders", "Paid orders to date.", "截至当前的付款订单数。"),
    ("orders_30d", _I, "orders", "Paid orders in the last 30 days.", "近 30 天的付款订单数。"),
    ("orders_90d", _I, "orders", "Paid orders in the last 90 days.", "近 90 天的付款订单数。"),
    ("orders_365d", _I, "orders", "Paid orders in the last 365 days.", "近 365 天的付款订单数。"),
    (
        "orders_prev_90d",
        _I,
        "orders",
        "Paid orders in the 90 days before the last 90 (90 to 179 whole days ago).",
        "近 90 天之前那 90 天（90 至 179 整天前）的付款订单数。",
    ),
    (
        "spend_90d",
        _N,
        "currency",
        "Spend on paid orders in the last 90 days.",
        "近 90 天的付款金额。",
    ),
    (
        "spend_prev_90d",
        _N,
        "currency",
        "Spend on paid orders in the 90 days before the last 90.",
        "近 90 天之前那 90 天的付款金额。",
    ),
    (
        "spend_365d",
        _N,
        "currency",
        "Spend on paid orders in the last 365 days.",
        "近 365 天的付款金额。",
    ),
    (
        "avg_gap_days",
        _N,
        "days",
        "Mean days between consecutive purchase days; NULL with fewer than two purchase days.",
        "相邻两个购买日之间的平均间隔天数；购买日少于两天为 NULL。",
    ),
    (
        "overdue_ratio",
        _N,
        "ratio",
        "Days since the last purchase over the usual gap (recency_days / avg_gap_days); "
        "above 1 means overdue.",
        "距上次购买天数除以平均购买间隔（recency_days / avg_gap_days）；大于 1 表示已逾期未购。",
    ),
    ("refunds_90d", _I, "orders", "Refunded orders in the last 90 days.", "近 90 天的退款订单数。"),
    # Engagement and service
    (
        "interactions_90d",
        _I,
        "interactions",
        "Interactions (calls, visits, messages, emails) in the last 90 days.",
        "近 90 天的互动次数（电话、拜访、消息、邮件）。",
    ),
    (
        "interactions_prev_90d",
        _I,
        "interactions",
        "Interactions in the 90 days before the last 90.",
        "近 90 天之前那 90 天的互动次数。",
    ),
    (
        "days_since_interaction",
        _I,
        "days",
        "Days since the last interaction of any kind; NULL if there was none.",
        "距最近一次任意互动的天数；没有互动为 NULL。",
    ),
    (
        "days_since_follow_up",
        _I,
        "days",
        "Days since staff last followed the customer up; NULL if never.",
        "距员工最近一次跟进的天数；从未跟进为 NULL。",
    ),
    (
        "complaints_90d",
        _I,
        "tickets",
        "Complaint tickets opened in the last 90 days.",
        "近 90 天新建的投诉工单数。",
    ),
    (
        "complaints_prev_90d",
        _I,
        "tickets",
        "Complaint tickets opened in the 90 days before the last 90.",
        "近 90 天之前那 90 天新建的投诉工单数。",
    ),
    ("open_tickets", _I, "tickets", "Service tickets not yet closed.", "尚未关闭的服务工单数。"),
    (
        "last_nps",
        _I,
        "score 0-10",
        "The latest NPS answer (0 to 10); NULL if never surveyed.",
        "最近一次 NPS 评分（0 至 10）；未参与调查为 NULL。",
    ),
    (
        "last_csat",
        _I,
        "score 1-5",
        "The latest CSAT answer (1 to 5); NULL if never surveyed.",
        "最近一次满意度 CSAT 评分（1 至 5）；未参与调查为 NULL。",
    ),
    # Loyalty and ownership
    ("points_balance", _I, "points", "Loyalty points available.", "可用的会员积分。"),
    ("tier", _T, "", "Loyalty tier name.", "会员等级名称。"),
    (
        "owner",
        _T,
        "",
        "Username of the staff member who owns the customer; NULL while in the pool.",
        "负责该客户的员工用户名；在公海池中为 NULL。",
    ),
    (
        "in_pool",
        _B,
        "",
        "Whether the customer sits in the shared pool, unowned.",
        "客户是否在公海池中（无负责人）。",
    ),
    (
        "tags",
        _TAGS,
        "",
        "The customer's tags (empty if none); test one with HAS_TAG(tags, 'vip').",
        "客户标签集合（无标签时为空）；用 HAS_TAG(tags, 'vip') 判断是否有某个标签。",
    ),
    # Profile
    (
        "age",
        _I,
        "years",
        "Age in whole years; NULL when the birthday is unknown.",
        "周岁年龄；生日未知为 NULL。",
    ),
    (
        "gender",
        _T,
        "",
        "Gender as recorded ('male', 'female'); NULL if unknown.",
        "登记的性别（'male'、'female'）；未知为 NULL。",
    ),
    (
        "locked",
        _B,
        "",
        "TRUE when the customer is locked to its owner and never returns to the pool.",
        "客户已锁定给负责人，不会回收到公海时为 TRUE。",
    ),
    (
        "days_owned",
        _I,
        "days",
        "Days since the current owner took the customer; NULL in the pool.",
        "当前负责人接手客户以来的天数；在公海中为 NULL。",
    ),
    (
        "days_to_birthday",
        _I,
        "days",
        "Days until the next birthday (the lunar one where a lunar birthday is given).",
        "距下一个生日的天数（登记了农历生日时按农历）。",
    ),
    (
        "days_to_anniversary",
        _I,
        "days",
        "Days until the next anniversary of the first purchase.",
        "距首次购买周年日的天数。",
    ),
    ("province", _T, "", "Province or region of the customer's address.", "客户所在省份或地区。"),
    ("city", _T, "", "City of the customer's address.", "客户所在城市。"),
    (
        "channel",
        _T,
        "",
        "Main purchase channel: the channel of most paid orders.",
        "主要购买渠道：付款订单最多的渠道。",
    ),
    ("kind", _T, "", "'person' or 'company'.", "客户类型：'person'（个人）或 'company'（企业）。"),
    # Model and scoring outputs
    (
        "r_score",
        _I,
        "score 1-5",
        "Recency score, 5 for the most recent buyers.",
        "最近购买得分（R），最近购买的客户为 5。",
    ),
    (
        "f_score",
        _I,
        "score 1-5",
        "Frequency score, 5 for the most frequent buyers.",
        "购买频率得分（F），购买最频繁的客户为 5。",
    ),
    (
        "m_score",
        _I,
        "score 1-5",
        "Monetary score, 5 for the biggest spenders.",
        "消费金额得分（M），消费最多的客户为 5。",
    ),
    (
        "rfm_segment",
        _T,
        "",
        "RFM segment name from the three scores.",
        "由 R、F、M 三项得分得出的 RFM 客群名称。",
    ),
    (
        "value_class",
        _T,
        "",
        "Value class from the customer's rank by CLV.",
        "按客户终身价值（CLV）排名得出的价值类别。",
    ),
    (
        "p_alive",
        _N,
        "probability 0-1",
        "Probability the customer is still active (BG/NBD or Pareto/NBD).",
        "客户仍处于活跃状态的概率（BG/NBD 或 Pareto/NBD 模型）。",
    ),
    (
        "expected_purchases",
        _N,
        "purchases",
        "Expected purchases over the scoring horizon.",
        "预测期内的预期购买次数。",
    ),
    (
        "expected_avg_value",
        _N,
        "currency",
        "Expected value of a future purchase (Gamma-Gamma).",
        "未来每次购买的预期金额（Gamma-Gamma 模型）。",
    ),
    (
        "clv",
        _N,
        "currency",
        "Customer lifetime value over the scoring horizon: expected purchases times"
        " expected value.",
        "预测期内的客户终身价值：预期购买次数乘以预期每次金额。",
    ),
    (
        "churn_risk",
        _N,
        "probability 0-1",
        "Probability of churning, from the churn model.",
        "流失概率（流失模型）。",
    ),
    ("grade", _T, "", "Customer grade given by the rulebook.", "规则手册给出的客户等级。"),
    ("stage", _T, "", "Lifecycle stage given by the rulebook.", "规则手册给出的生命周期阶段。"),
)

FEATURES: dict[str, Feature] = {row[0]: Feature(*row) for row in _ROWS}


def duckdb_columns() -> dict[str, str]:
    """Each feature name with the DuckDB type of its column, in catalogue order."""
    return {f.name: f.duckdb_type for f in FEATURES.values()}


def duckdb_table_sql(table: str = "features", *, key: str | None = "customer_id") -> str:
    """`CREATE TABLE` for an empty typed table of every feature, with a BIGINT key first."""
    columns = [f'"{key}" BIGINT'] if key else []
    columns += [f'"{name}" {kind}' for name, kind in duckdb_columns().items()]
    return f'CREATE TABLE "{table}" ({", ".join(columns)})'


def render_markdown() -> str:
    """The text of docs/features.md, generated so the docs never drift from the catalogue."""
    lines = [
        "# Customer features",
        "",
        "Every name below is computed by `patron score` for each customer as of the scoring",
        "date, and may be used in rule expressions (see [rules.md](rules.md)). NULL means",
        '"not known" or "does not apply"; the meanings say when a feature is NULL.',
        'Windows such as "the last 90 days" end at the scoring date.',
        "",
        "This file is generated from `src/patron/analytics/catalog.py`:",
        "`python -m patron.analytics.catalog > docs/features.md`.",
        "",
        "| Name | Kind | Unit | Meaning | 含义 |",
        "|---|---|---|---|---|",
    ]
    for f in FEATURES.values():
        cells = [f"`{f.name}`", f.kind.value, f.unit, f.meaning, f.meaning_zh]
        lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(render_markdown(), end="")
