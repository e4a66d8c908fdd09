"""The one list of processors, and the way each gets in: a registration.

Like Datasette's built-in features, which register through the same hooks a plugin uses, every
processor of shoptrack is added with :meth:`ProcessorRegistry.register` (``builtin.py``); the
runner is built from the registry, in registration order. Adding a processor is one
registration; nothing else names the list.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import Engine

from shoptrack.config import Settings
from shoptrack.identity.crypto import Keyring
from shoptrack.processing.runner import Processor, ProcessorRunner

ProcessorFactory = Callable[[Settings, Engine, Keyring], Processor]


@dataclass
class ProcessorRegistry:
    factories: dict[str, ProcessorFactory] = field(default_factory=dict)

    def register(self, name: str) -> Callable[[ProcessorFactory], ProcessorFactory]:
        """Decorator: ``factory(settings, engine, keyring)`` makes the processor ``name``."""

        def add(factory: ProcessorFactory) -> ProcessorFactory:
            if name in self.factories:
                raise ValueError(f"a processor named {name!r} is registered already")
            self.factories[name] = factory
            return factory

        return add

    def build_runner(
        self,
        settings: Settings,
        engine: Engine,
        keyring: Keyring,
        only: list[str] | None = None,
    ) -> ProcessorRunner:
        """A runner of every registered processor, or of those named in ``only``."""
        chosen = [n for n in self.factories if only is None or n in only]
        processors = [self.factories[name](settings, engine, keyring) for name in chosen]
        return ProcessorRunner(
            engine,
            processors,
            batch_size=settings.processor_batch_size,
            poll_interval_s=settings.processor_poll_interval_s,
            gap_wait_s=settings.processor_gap_wait_s,
            max_attempts=settings.processor_max_attempts,
            retry_backoff_s=settings.processor_retry_backoff_s,
        )
