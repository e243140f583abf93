"""One module per kind of question; :data:`HANDLERS` maps each intent to its handler."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from api.ask.handlers.alerts import active_alerts, alert_history
from api.ask.handlers.diagnose import diagnose
from api.ask.handlers.forecast import disk_forecast_answer
from api.ask.handlers.help import help_answer, unknown
from api.ask.handlers.history import metric_history
from api.ask.handlers.processes import top_processes
from api.ask.handlers.ranking import threshold, top_n
from api.ask.handlers.status import down_servers, fleet_status, server_status, warning_servers
from api.ask.model import Intent
from api.ask.question import Question, Reply
from api.ask.reader import Reader

Handler = Callable[[Question, Reader], Awaitable[Reply]]

HANDLERS: dict[Intent, Handler] = {
    "fleet_status": fleet_status,
    "server_status": server_status,
    "down_servers": down_servers,
    "warning_servers": warning_servers,
    "top_n": top_n,
    "threshold": threshold,
    "metric_history": metric_history,
    "active_alerts": active_alerts,
    "alert_history": alert_history,
    "disk_forecast": disk_forecast_answer,
    "top_processes": top_processes,
    "diagnose": diagnose,
    "help": help_answer,
    "unknown": unknown,
}
