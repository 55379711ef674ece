"""Every table, imported once so the metadata (and Alembic) sees the whole schema."""

from patron.analytics.dashboard_summary import DashboardFigures
from patron.analytics.dashboard_trends import DashboardTrends
from patron.analytics.models import ScoreSnapshot, ScoringRun
from patron.audit.models import AuditEntry
from patron.auth.models import ApiToken, Role, User
from patron.campaigns.models import Campaign, CampaignRecipient, OptOut, Segment
from patron.customers.models import Contact, Customer, CustomerKind, CustomerScore, CustomerTag
from patron.db import Base
from patron.engagement.models import Interaction, InteractionKind, Task, TaskStatus
from patron.imports.models import ImportJob
from patron.knowledge.models import Article, ArticleCategory, ArticleTag, TicketArticle
from patron.loyalty.models import LoyaltyAccount, PointsEntry, PointsKind, TierChange
from patron.notify.models import InAppNotification, OutboxMessage
from patron.notify.webhooks_models import WebhookSubscription
from patron.orders.models import Order, OrderLine, OrderStatus, Product
from patron.pool.models import OwnershipChange
from patron.rules.models import (
    ActionTaken,
    Alert,
    RulebookVersion,
    StateChange,
    WarningRefresh,
)
from patron.service.models import Survey, SurveyKind, SurveyResponse, Ticket, TicketKind
from patron.web.views import SavedView
from patron.worker.models import JobLock

__all__ = [
    "ActionTaken",
    "Alert",
    "ApiToken",
    "Article",
    "ArticleCategory",
    "ArticleTag",
    "AuditEntry",
    "Base",
    "Campaign",
    "CampaignRecipient",
    "Contact",
    "Customer",
    "CustomerKind",
    "CustomerScore",
    "CustomerTag",
    "DashboardFigures",
    "DashboardTrends",
    "ImportJob",
    "InAppNotification",
    "Interaction",
    "InteractionKind",
    "JobLock",
    "LoyaltyAccount",
    "OptOut",
    "Order",
    "OrderLine",
    "OrderStatus",
    "OutboxMessage",
    "OwnershipChange",
    "PointsEntry",
    "PointsKind",
    "Product",
    "Role",
    "RulebookVersion",
    "SavedView",
    "ScoreSnapshot",
    "ScoringRun",
    "Segment",
    "StateChange",
    "Survey",
    "SurveyKind",
    "SurveyResponse",
    "Task",
    "TaskStatus",
    "Ticket",
    "TicketArticle",
    "TicketKind",
    "TierChange",
    "User",
    "WarningRefresh",
    "WebhookSubscription",
]
