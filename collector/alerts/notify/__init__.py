"""Alert notifications: channels, grouping and timing as in Alertmanager, delivery with retries.

Public API:

- :mod:`~collector.alerts.notify.channels`: ``EmailChannel``, ``WebhookChannel``, ``SlackChannel`` (pydantic,
  discriminated by ``kind``; ``ChannelConfig`` is their union), ``parse_channel(data)``,
  ``redact_channel(channel)`` (secrets as ``***``, for the API), ``keep_secrets(new, old)``,
  ``StoredChannel``.
- :mod:`~collector.alerts.notify.store`: ``list_channels``, ``get_channel``, ``create_channel``,
  ``update_channel`` (keeps ``***`` secrets), ``delete_channel``, ``ChannelExistsError``; the notification log
  (``load_log``, ``save_log_entry``, ``delete_log_entry``) and history (``record_notification``,
  ``list_notifications``, ``NotificationRecord``).
- :mod:`~collector.alerts.notify.dispatcher`: the pure core, ``Dispatcher`` (``put``, ``flush_due``,
  ``delivered``), ``Notification``, ``LogEntry``, ``group_key``.
- :mod:`~collector.alerts.notify.payloads`: the e-mail text, the webhook document and the Slack message.
- :mod:`~collector.alerts.notify.delivery`: ``Sender`` (SMTP and HTTP), ``RetryPolicy``, ``DeliveryResult``.
- :mod:`~collector.alerts.notify.notifier`: ``Notifier`` (``start``, ``put``, ``tick``, ``reload_channels``,
  ``send_test``, ``drain``, ``close``), the service the engine feeds.
- :mod:`~collector.alerts.notify.metrics`: ``NotifyMetrics`` (sent / failed counters per channel kind).
"""
