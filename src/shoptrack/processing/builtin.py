"""shoptrack's own processors, registered as any processor is (in the order they run)."""

from __future__ import annotations

from sqlalchemy import Engine

from shoptrack.analytics.processor import AnalyticsProcessor
from shoptrack.analytics.state import forget_visitors as forget_traffic_visitors
from shoptrack.catalog.event_values import CatalogEventProcessor
from shoptrack.catalog.quorum import QuorumRule
from shoptrack.config import Settings
from shoptrack.identity.crypto import Keyring
from shoptrack.identity.erasure import ErasureStep
from shoptrack.identity.linking import IdentityProcessor
from shoptrack.processing.registry import ProcessorRegistry
from shoptrack.processing.runner import Processor, ProcessorRunner
from shoptrack.recommend.scheduler import RecommendationScheduler
from shoptrack.reports.attribution import ReportsProcessor
from shoptrack.segments.erasure import forget_segment_data
from shoptrack.segments.processor import SegmentsProcessor
from shoptrack.triggers.erasure import forget_contact as forget_trigger_data
from shoptrack.triggers.report import TriggerReportProcessor
from shoptrack.triggers.report_state import forget_visits
from shoptrack.triggers.schedule import TriggerProcessor

PROCESSORS = ProcessorRegistry()
# What an erasure also removes, beyond identity's own tables: one step per package that keeps
# something of a contact (``identity.erasure.ErasureStep``), run in the erasure's transaction.
ERASURE_STEPS: tuple[ErasureStep, ...] = (
    forget_trigger_data,
    forget_visits,
    forget_traffic_visitors,
    forget_segment_data,
)


@PROCESSORS.register("identity")
def identity_linking(settings: Settings, _engine: Engine, keyring: Keyring) -> Processor:
    return IdentityProcessor(keyring, settings.identity_auto_create_contacts)


@PROCESSORS.register("triggers")
def trigger_episodes(_settings: Settings, _engine: Engine, _keyring: Keyring) -> Processor:
    return TriggerProcessor()


@PROCESSORS.register("catalog")
def catalogue_values(settings: Settings, _engine: Engine, _keyring: Keyring) -> Processor:
    window_ms = settings.catalog_browser_window_s * 1000
    return CatalogEventProcessor(QuorumRule(settings.catalog_browser_quorum, window_ms))


@PROCESSORS.register("recommend")
def recommendation_counters(settings: Settings, engine: Engine, _keyring: Keyring) -> Processor:
    return RecommendationScheduler(engine, settings)


@PROCESSORS.register("reports")
def block_reports(settings: Settings, _engine: Engine, _keyring: Keyring) -> Processor:
    return ReportsProcessor(settings.attribution_window_days, settings.include_bots)


@PROCESSORS.register("trigger_reports")
def trigger_reports(settings: Settings, _engine: Engine, _keyring: Keyring) -> Processor:
    # After identity in each round: an order's visitor is usually linked to its contact.
    return TriggerReportProcessor(settings.attribution_window_days, settings.include_bots)


@PROCESSORS.register("analytics")
def traffic_counts(_settings: Settings, _engine: Engine, _keyring: Keyring) -> Processor:
    # Counts bots too, marked as such: the dashboard shows them apart (no setting to rebuild).
    return AnalyticsProcessor()


@PROCESSORS.register("segments")
def segment_membership(settings: Settings, _engine: Engine, keyring: Keyring) -> Processor:
    # After identity in each round: a batch's new links already count for its people.
    return SegmentsProcessor(settings.include_bots, keyring)


def build_runner(settings: Settings, engine: Engine, keyring: Keyring) -> ProcessorRunner:
    """The runner of every registered processor."""
    return PROCESSORS.build_runner(settings, engine, keyring)
